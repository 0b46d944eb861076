#pragma once
// OutcomeRecorder: where the supervisor records what became of declared work. Implemented by
// ManagementService, which serialises these writes with the management API's own; a fake in
// tests can be the real service over MemoryStateStore.
//
// Threading: blocking (storage writes). The supervisor calls it only on its blocking executor,
// never on its control executor or a data-plane thread.
// Errors: ABORTED when a newer write superseded the outcome (another generation, a delete, a
// deployment no longer being deleted); the supervisor then re-reads the record.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "core/spec.h"

namespace berth::controlplane {

class OutcomeRecorder {
 public:
  virtual ~OutcomeRecorder() = default;
  // Records the outcome of operation `generation` of a deployment (Succeeded or Failed).
  virtual absl::Status RecordDeploymentOutcome(const std::string& endpoint, const std::string& name,
                                               int64_t generation, core::ProvisioningState state,
                                               const std::string& reason) = 0;
  // Removes the record of a deleting deployment whose instances are gone.
  virtual absl::Status FinishDeploymentDelete(const std::string& endpoint,
                                              const std::string& name) = 0;
  // Removes a deleting endpoint that has no deployments left.
  virtual absl::Status FinishEndpointDelete(const std::string& name) = 0;
};

}  // namespace berth::controlplane
