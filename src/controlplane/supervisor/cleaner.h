#pragma once
// Cleaner: finishes deletes. Removes the record through the OutcomeRecorder, then the
// instance folders (logs included) of what was deleted.
//
// Threading: blocking (storage writes, recursive folder removal); thread-safe. The supervisor
// calls it only on its blocking executor.
// Errors: the recorder's (ABORTED when the delete was superseded; NOT_FOUND when the record is
// already gone, which counts as done). Folders are removed only once the record is gone.

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "controlplane/supervisor/outcome_recorder.h"

namespace berth::controlplane {

class Cleaner {
 public:
  Cleaner(OutcomeRecorder& recorder, std::filesystem::path instances_dir)
      : recorder_(recorder), instances_dir_(std::move(instances_dir)) {}

  absl::Status FinishDeploymentDelete(const std::string& endpoint, const std::string& deployment);
  absl::Status FinishEndpointDelete(const std::string& endpoint);

 private:
  OutcomeRecorder& recorder_;
  std::filesystem::path instances_dir_;
};

}  // namespace berth::controlplane
