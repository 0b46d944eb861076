#pragma once
// MemoryStateStore: StateStore in process memory, for tests and for callers that want no
// durable state. It keeps the SQLite store's semantics exactly (same errors, same ordering,
// same revisions, specs normalized as the JSON round trip through storage would), which the
// shared contract tests and the model test check.

#include <cstdint>
#include <deque>
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
  // Keeps the latest `change_retention` changes (at least 1) for ChangesSince.
  explicit MemoryStateStore(int64_t change_retention = kDefaultChangeRetention);

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

  absl::StatusOr<int64_t> Commit(const WriteBatch& batch) override;
  absl::StatusOr<int64_t> CurrentRevision() override;
  absl::StatusOr<ChangeBatch> ChangesSince(int64_t revision, size_t limit) override;

  absl::StatusOr<ModelRecord> GetModel(const std::string& name,
                                       const std::string& version) override;
  absl::StatusOr<std::vector<ModelRecord>> ListModels(const std::string& name) override;
  absl::Status CreateModel(const ModelRecord& record) override;
  absl::Status DeleteModel(const std::string& name, const std::string& version) override;

  absl::StatusOr<ResourceRecord> GetResource(const std::string& kind,
                                             const std::string& key) override;
  absl::StatusOr<std::vector<ResourceRecord>> ListResources(const std::string& kind,
                                                            const std::string& key_prefix) override;
  absl::StatusOr<std::vector<ResourceRecord>> CommitResources(
      const std::vector<ResourceWrite>& writes) override;
  absl::StatusOr<int64_t> DeleteResources(const std::string& kind,
                                          const std::string& key_prefix) override;

  absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& key) override;
  absl::Status PutSetting(const std::string& key, const std::string& value) override;

 private:
  // Endpoints and deployments are keyed by internal::FoldName of their names, so lookups
  // ignore ASCII case; the records keep the names as written. (endpoint, name) pairs keep one
  // endpoint's deployments adjacent.
  using DeploymentKey = std::pair<std::string, std::string>;
  using ModelKey = std::pair<std::string, std::string>;  // (name, version), case-sensitive
  // (kind, key), byte-wise: one kind's records are adjacent and sorted by key.
  using ResourceKey = std::pair<std::string, std::string>;

  // A batch in progress: the changes it made so far and how to take each back.
  struct Undo {
    RecordKind kind = RecordKind::kEndpoint;
    std::string endpoint_key;
    DeploymentKey deployment_key;
    std::optional<EndpointRecord> endpoint;  // what was there before; nullopt: nothing
    std::optional<DeploymentRecord> deployment;
  };
  struct Pending {
    int64_t revision = 0;  // of the latest change so far
    std::vector<Change> changes;
    std::vector<Undo> undo;
  };

  absl::Status ApplyEndpointLocked(WriteBatch::Action action, const EndpointRecord& record,
                                   Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyDeploymentLocked(WriteBatch::Action action, const DeploymentRecord& record,
                                     Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores `record` under `key`, remembering what it replaced.
  void PutEndpointLocked(const std::string& key, EndpointRecord record, Pending& pending)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PutDeploymentLocked(const DeploymentKey& key, DeploymentRecord record, Pending& pending)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseDeploymentLocked(std::map<DeploymentKey, DeploymentRecord>::iterator it,
                             Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RollBackLocked(Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The deployments of the endpoint with folded name `endpoint_key`, by name byte-wise.
  std::vector<std::map<DeploymentKey, DeploymentRecord>::iterator> DeploymentsOfLocked(
      const std::string& endpoint_key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t change_retention_;
  absl::Mutex mu_;
  std::map<std::string, EndpointRecord> endpoints_ ABSL_GUARDED_BY(mu_);
  std::map<DeploymentKey, DeploymentRecord> deployments_ ABSL_GUARDED_BY(mu_);
  std::map<ModelKey, ModelRecord> models_ ABSL_GUARDED_BY(mu_);
  std::map<ResourceKey, ResourceRecord> resources_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> settings_ ABSL_GUARDED_BY(mu_);
  // The change log: revisions pruned_through_ + 1 .. revision_, one entry each.
  std::deque<Change> changes_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t pruned_through_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace berth::state
