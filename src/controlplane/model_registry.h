#pragma once
// ModelRegistry: registered model versions (`berth model create`, /api/v1/models), kept in the
// StateStore with their files in the ArtifactStore, and the resolution of the references
// deployments make to them (`model: azureml:<name>:<version>` or `azureml:<name>@latest`).
//
// `latest` is the most recently registered version, as on Azure (ties: the highest in
// StateStore::ListModels order).
//
// Thread-safety: all methods may be called concurrently; Create and Delete are serialised with
// each other. Delete's "not in use" check reads the deployments, so a caller that writes
// deployments must serialise its writes with Delete (ManagementService::DeleteModel does).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "controlplane/artifact_store.h"
#include "core/model_asset.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"
#include "state/state_store.h"

namespace berth::controlplane {

class ModelRegistry {
 public:
  ModelRegistry(state::StateStore& store, const ArtifactStore& artifacts, const Clock& clock);

  // Registers a version. An empty version gets the next integer after the highest integer
  // version ("1" for a new model). ALREADY_EXISTS when the version exists; NOT_FOUND (target
  // `artifact`) when its files were not uploaded.
  absl::StatusOr<state::ModelRecord> Create(const core::ModelAsset& model);

  // One version; `version` "latest" is the newest. NOT_FOUND naming the model otherwise.
  absl::StatusOr<state::ModelRecord> Get(const std::string& name, const std::string& version);

  // The versions of `name` ("" = every model), in StateStore::ListModels order.
  absl::StatusOr<std::vector<state::ModelRecord>> List(const std::string& name);

  // Removes a version. FAILED_PRECONDITION naming the deployments while any that is not being
  // deleted refers to it, by version or through `@latest`; NOT_FOUND when absent.
  absl::Status Delete(const std::string& name, const std::string& version);

  // A registered model for a deployment: name, version, type, description, path and artifact
  // from the registry, and `reference` naming the exact version ("azureml:<name>:<version>",
  // what `@latest` meant now). NOT_FOUND with target `model` naming the reference when absent.
  // Inline models (no reference) come back unchanged.
  absl::StatusOr<core::ModelSpec> Resolve(const core::ModelSpec& model);

 private:
  // The newest version of `name`: NOT_FOUND when it has none.
  absl::StatusOr<state::ModelRecord> Latest(const std::string& name);
  // "ep/d" of each deployment not being deleted whose model is `name`:`version`.
  absl::StatusOr<std::vector<std::string>> Users(const std::string& name,
                                                 const std::string& version);

  state::StateStore& store_;
  const ArtifactStore& artifacts_;
  const Clock& clock_;
  absl::Mutex mu_;  // Create's next version and Delete's check-then-remove
};

// The API's view of a version: {name, version, type, description, tags, properties, path,
// artifact, created_at}.
nlohmann::json ModelView(const state::ModelRecord& record);

}  // namespace berth::controlplane
