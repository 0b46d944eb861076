#pragma once
// TarBuilder: a pax tar built in memory (berthd's `job download`). The counterpart of
// tar_extract.h.
//
// Thread-safety: one builder per thread.

#include <archive.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace berth::archive {

class TarBuilder {
 public:
  TarBuilder();

  // Adds every regular file below `root` (sorted) as `prefix`/<relative path>; nothing when
  // `root` is absent. A file that grows meanwhile (a running job's log) is cut at the size it
  // had when it was added.
  absl::Status AddTree(const std::filesystem::path& root, const std::string& prefix);

  // The tar's bytes; the builder is spent afterwards.
  absl::StatusOr<std::string> Finish();

 private:
  static la_ssize_t Append(struct archive*, void* client, const void* buffer, size_t length);
  absl::Status AddFile(const std::filesystem::path& file, const std::string& name);

  std::string out_;
  std::unique_ptr<struct archive, decltype(&archive_write_free)> archive_;
};

}  // namespace berth::archive
