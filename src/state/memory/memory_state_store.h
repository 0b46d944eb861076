#pragma once
// MemoryStateStore: StateStore in process memory, for tests and for callers that want no
// durable state. It keeps the SQLite store's semantics exactly (same errors, same ordering,
// specs normalized as the JSON round trip through storage would), which the shared contract
// tests check.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "state/state_store.h"

namespace berth::state {

class MemoryStateStore final : public StateStore {
 public:
  MemoryStateStore() = default;

  absl::StatusOr<EndpointRecord> GetEndpoint(const std::string& name) override;
  absl::StatusOr<std::vector<EndpointRecord>> ListEndpoints() override;
  absl::Status CreateEndpoint(const EndpointRecord& record) override;
  absl::Status UpdateEndpoint(const EndpointRecord& record) override;
  absl::Status DeleteEndpoint(const std::string& name) override;

  absl::StatusOr<DeploymentRecord> GetDeployment(const std::string& endpoint,
                                                 const std::string& name) override;
  absl::StatusOr<std::vector<DeploymentRecord>> ListDeployments(
      const std::string& endpoint) override;
  absl::Status CreateDeployment(const DeploymentRecord& record) override;
  absl::Status UpdateDeployment(const DeploymentRecord& record) override;
  absl::Status DeleteDeployment(const std::string& endpoint, const std::string& name) override;

  absl::StatusOr<ModelRecord> GetModel(const std::string& name,
                                       const std::string& version) override;
  absl::StatusOr<std::vector<ModelRecord>> ListModels(const std::string& name) override;
  absl::Status CreateModel(const ModelRecord& record) override;
  absl::Status DeleteModel(const std::string& name, const std::string& version) override;

  absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& key) override;
  absl::Status PutSetting(const std::string& key, const std::string& value) override;

 private:
  // (endpoint, name): std::pair ordering keeps one endpoint's deployments adjacent and sorted
  // by name, byte-wise, as SQLite's BINARY collation sorts them.
  using DeploymentKey = std::pair<std::string, std::string>;
  using ModelKey = std::pair<std::string, std::string>;  // (name, version)

  absl::Mutex mu_;
  std::map<std::string, EndpointRecord> endpoints_ ABSL_GUARDED_BY(mu_);
  std::map<DeploymentKey, DeploymentRecord> deployments_ ABSL_GUARDED_BY(mu_);
  std::map<ModelKey, ModelRecord> models_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> settings_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::state
