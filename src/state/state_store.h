#pragma once
// StateStore: the only path to durable state (endpoints, deployments, registered models,
// secrets, settings).
//
// Records hold the user-declared spec as JSON (validated before it gets here) plus the
// status the control plane maintains. Implementations: SqliteStateStore (sqlite/, WAL,
// one transaction per call) and MemoryStateStore (memory/), which pass the same contract
// tests (state_store_contract_test.cc).
//
// Thread-safety: every method may be called from any thread concurrently.
// Errors: NOT_FOUND for a missing record (or a missing endpoint when writing a deployment),
// ALREADY_EXISTS on create of an existing record, INTERNAL for storage failures.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"

namespace berth::state {

struct EndpointRecord {
  std::string name;
  nlohmann::json spec = nlohmann::json::object();  // user-declared fields, merged over updates
  core::ProvisioningState state = core::ProvisioningState::kCreating;
  std::string reason;  // why the last operation failed, "" otherwise
  // Secrets sealed by auth::SecretBox (opaque text); never stored in the clear.
  std::string primary_key_sealed;
  std::string secondary_key_sealed;
  std::string token_secret_sealed;
  int64_t created_at_ms = 0;  // Unix epoch milliseconds
  int64_t updated_at_ms = 0;
  bool operator==(const EndpointRecord&) const = default;
};

struct DeploymentRecord {
  std::string endpoint;
  std::string name;
  nlohmann::json spec = nlohmann::json::object();
  core::ProvisioningState state = core::ProvisioningState::kCreating;
  std::string reason;
  std::vector<std::string> warnings;  // from the last accepted write
  int64_t generation = 1;             // bumped on every accepted spec change
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  bool operator==(const DeploymentRecord&) const = default;
};

// One registered model version (the model registry; controlplane/model_registry.h).
struct ModelRecord {
  std::string name;
  std::string version;
  // What the user declared besides name, version and files: type, description, tags,
  // properties, path as written.
  nlohmann::json spec = nlohmann::json::object();
  core::ArtifactRef artifact;  // the uploaded folder or file
  int64_t created_at_ms = 0;
  bool operator==(const ModelRecord&) const = default;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual absl::StatusOr<EndpointRecord> GetEndpoint(const std::string& name) = 0;
  // Sorted by name.
  virtual absl::StatusOr<std::vector<EndpointRecord>> ListEndpoints() = 0;
  virtual absl::Status CreateEndpoint(const EndpointRecord& record) = 0;
  // Replaces the whole record; NOT_FOUND if absent.
  virtual absl::Status UpdateEndpoint(const EndpointRecord& record) = 0;
  // Deletes the endpoint and all its deployments.
  virtual absl::Status DeleteEndpoint(const std::string& name) = 0;

  virtual absl::StatusOr<DeploymentRecord> GetDeployment(const std::string& endpoint,
                                                         const std::string& name) = 0;
  // Sorted by name. An unknown endpoint gives an empty list.
  virtual absl::StatusOr<std::vector<DeploymentRecord>> ListDeployments(
      const std::string& endpoint) = 0;
  virtual absl::Status CreateDeployment(const DeploymentRecord& record) = 0;
  virtual absl::Status UpdateDeployment(const DeploymentRecord& record) = 0;
  virtual absl::Status DeleteDeployment(const std::string& endpoint, const std::string& name) = 0;

  virtual absl::StatusOr<ModelRecord> GetModel(const std::string& name,
                                               const std::string& version) = 0;
  // The versions of model `name` ("" = of every model), sorted by name (byte-wise), then by
  // version: integer versions first, in numeric order, then the others byte-wise.
  virtual absl::StatusOr<std::vector<ModelRecord>> ListModels(const std::string& name) = 0;
  virtual absl::Status CreateModel(const ModelRecord& record) = 0;
  virtual absl::Status DeleteModel(const std::string& name, const std::string& version) = 0;

  // Small named values (admin token hash, schema version). nullopt when unset.
  virtual absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  virtual absl::Status PutSetting(const std::string& key, const std::string& value) = 0;
};

}  // namespace berth::state
