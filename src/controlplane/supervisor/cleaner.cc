#include "controlplane/supervisor/cleaner.h"

namespace berth::controlplane {

namespace fs = std::filesystem;

absl::Status Cleaner::FinishDeploymentDelete(const std::string& endpoint,
                                             const std::string& deployment) {
  absl::Status s = recorder_.FinishDeploymentDelete(endpoint, deployment);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  std::error_code ec;
  fs::remove_all(instances_dir_ / endpoint / deployment, ec);
  return absl::OkStatus();
}

absl::Status Cleaner::FinishEndpointDelete(const std::string& endpoint) {
  absl::Status s = recorder_.FinishEndpointDelete(endpoint);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  std::error_code ec;
  fs::remove_all(instances_dir_ / endpoint, ec);
  return absl::OkStatus();
}

}  // namespace berth::controlplane
