#pragma once
// ManagementService: the control-plane operations behind /api/v1 (and any other adapter).
// It validates documents (core/spec_json.h), enforces the cross-resource rules (traffic names
// existing deployments, one mirror without live traffic, no delete with live traffic, 409
// while an operation runs), persists records through StateStore, and tells the supervisor to
// act. A rejected request changes nothing.
//
// Thread-safety: all methods may be called concurrently; writes are serialised. A deployment
// write runs its slow checks (interpreter, conda file, artifacts, model, Triton repository)
// before it takes the write lock, then commits under the lock only if the records it checked
// are unchanged (else it checks again; after three tries, ABORTED: 409). So the lock is held
// only for storage reads and writes, and the supervisor's outcome writes never wait for a
// check. Lock order: the write lock is never held while calling the OnChange callback or the
// InstanceObserver.
// Results are JSON views as documented in docs/api.md.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auth/secrets.h"
#include "common/clock.h"
#include "controlplane/artifact_store.h"
#include "controlplane/model_registry.h"
#include "controlplane/paging.h"
#include "controlplane/python_environment.h"
#include "controlplane/supervisor/outcome_recorder.h"
#include "core/spec_json.h"
#include "nlohmann/json.hpp"
#include "state/state_store.h"

namespace berth::controlplane {

// What the supervisor knows about running instances, for views and logs.
class InstanceObserver {
 public:
  virtual ~InstanceObserver() = default;
  // `[{"id", "state", "port", "pid", "restarts", "template_current"}]`, newest last.
  virtual nlohmann::json InstancesJson(const std::string& endpoint,
                                       const std::string& deployment) const = 0;
  // Live figures of a deployment: desired and ready instances, whether it is scaled to zero,
  // requests in flight and queued, the latest scaling decisions. An empty object when unknown.
  virtual nlohmann::json LiveJson(const std::string& endpoint,
                                  const std::string& deployment) const = 0;
  // The log file of an instance (`instance` 0: the newest one), nullopt if there is none.
  virtual std::optional<std::filesystem::path> LogFile(const std::string& endpoint,
                                                       const std::string& deployment,
                                                       int64_t instance) const = 0;
};

struct ServiceOptions {
  std::string base_url;  // "http://127.0.0.1:8080", for scoring_uri
  std::chrono::seconds token_lifetime{3600};
  std::string python = "/usr/bin/python3";  // interpreter of deployments that name none
  // Reads an interpreter's version and installed packages. Slow (it runs Python); tests put a
  // fake here.
  std::function<absl::StatusOr<InterpreterInfo>(const std::string& python)> inspect_interpreter =
      InspectInterpreter;
};

class ManagementService final : public OutcomeRecorder {
 public:
  // Called after a write changed endpoint `endpoint` (and possibly all its deployments:
  // `deployment` empty) or one deployment, never under the write lock.
  using OnChange = std::function<void(const std::string& endpoint, const std::string& deployment)>;
  ManagementService(state::StateStore& store, const auth::SecretBox& secrets,
                    ArtifactStore& artifacts, const Clock& clock, ServiceOptions options,
                    OnChange on_change);

  void SetInstanceObserver(const InstanceObserver* observer) { observer_ = observer; }
  // The registry that `model: azureml:...` references resolve against. Set before serving;
  // without one such deployments are refused.
  void SetModelRegistry(ModelRegistry* models) { models_ = models; }

  struct Written {
    nlohmann::json view;
    bool created = false;
  };

  // Lists give one page (controlplane/paging.h): endpoints and deployments by name, models by
  // name then version.
  absl::StatusOr<Page> ListEndpoints(const PageRequest& page);
  absl::StatusOr<nlohmann::json> GetEndpoint(const std::string& name);
  // ALREADY_EXISTS when present.
  absl::StatusOr<Written> CreateEndpoint(const nlohmann::json& doc);
  // Create-or-merge (PUT) or merge only (PATCH, `allow_create` false: NOT_FOUND when absent).
  absl::StatusOr<Written> ApplyEndpoint(const std::string& name, const nlohmann::json& doc,
                                        bool allow_create);
  absl::StatusOr<nlohmann::json> DeleteEndpoint(const std::string& name);
  absl::StatusOr<nlohmann::json> GetKeys(const std::string& name);
  absl::StatusOr<nlohmann::json> RegenerateKeys(const std::string& name,
                                                const std::string& key_type);
  absl::StatusOr<nlohmann::json> IssueToken(const std::string& name);

  absl::StatusOr<Page> ListDeployments(const std::string& endpoint, const PageRequest& page);
  absl::StatusOr<nlohmann::json> GetDeployment(const std::string& endpoint,
                                               const std::string& name);
  absl::StatusOr<Written> CreateDeployment(const std::string& endpoint, const nlohmann::json& doc);
  absl::StatusOr<Written> ApplyDeployment(const std::string& endpoint, const std::string& name,
                                          const nlohmann::json& doc, bool allow_create);
  absl::StatusOr<nlohmann::json> DeleteDeployment(const std::string& endpoint,
                                                  const std::string& name);
  // The last `lines` lines of an instance's log (`instance` 0: the newest instance) of one
  // `container`: "inference-server" (the server's output) or "storage-initializer" (how its
  // model and code were put in place).
  absl::StatusOr<std::string> GetLogs(const std::string& endpoint, const std::string& name,
                                      int lines, int64_t instance,
                                      const std::string& container = "inference-server");

  // The model registry (management_service_models.cc); views as in docs/api.md, "Models".
  // `name` "" lists every model; `version` "latest" is the newest. The page token is
  // "<name>/<version>" (neither may hold a '/').
  absl::StatusOr<Page> ListModels(const std::string& name, const PageRequest& page);
  absl::StatusOr<nlohmann::json> GetModel(const std::string& name, const std::string& version);
  // ALREADY_EXISTS when the version exists.
  absl::StatusOr<nlohmann::json> CreateModel(const nlohmann::json& doc);
  // FAILED_PRECONDITION while a deployment uses the version; serialised with deployment writes
  // so that none can start using it meanwhile.
  absl::Status DeleteModel(const std::string& name, const std::string& version);

  // For the supervisor: records the outcome of a deployment operation (Succeeded or Failed),
  // unless a newer write superseded it (another generation, or a delete): ABORTED then.
  absl::Status RecordDeploymentOutcome(const std::string& endpoint, const std::string& name,
                                       int64_t generation, core::ProvisioningState state,
                                       const std::string& reason) override;
  // Removes the record of a deployment whose instances are gone (ABORTED if not Deleting).
  absl::Status FinishDeploymentDelete(const std::string& endpoint,
                                      const std::string& name) override;
  // Removes an endpoint being deleted once it has no deployments (ABORTED otherwise).
  absl::Status FinishEndpointDelete(const std::string& name) override;

 private:
  // `parsed`: the record's spec already parsed (nullptr: parse it).
  absl::StatusOr<nlohmann::json> EndpointView(
      const state::EndpointRecord& record,
      const core::Parsed<core::EndpointSpec>* parsed = nullptr);
  // `spec`: the record's spec already parsed (nullptr: parse it).
  nlohmann::json DeploymentView(const state::DeploymentRecord& record,
                                const core::DeploymentSpec* spec = nullptr) const;
  absl::StatusOr<Written> WriteEndpointLocked(const std::string& name, const nlohmann::json& doc,
                                              bool allow_create, bool require_new)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // A deployment write checked (without the lock) and ready to commit.
  struct PreparedDeployment {
    std::string endpoint;
    std::string name;
    std::optional<state::DeploymentRecord> existing;  // as the checks saw it
    nlohmann::json merged;                            // the spec to store
    core::Parsed<core::DeploymentSpec> parsed;        // `merged`, parsed once
  };
  absl::StatusOr<Written> WriteDeployment(const std::string& endpoint, const std::string& name,
                                          const nlohmann::json& doc, bool allow_create,
                                          bool require_new) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Validation and the slow checks (artifacts, model resolution, interpreter, repository).
  absl::StatusOr<PreparedDeployment> PrepareDeployment(const std::string& endpoint,
                                                       const std::string& name,
                                                       const nlohmann::json& doc, bool allow_create,
                                                       bool require_new)
      ABSL_LOCKS_EXCLUDED(write_mu_);
  // ABORTED when the records changed since PrepareDeployment read them.
  absl::StatusOr<state::DeploymentRecord> CommitDeploymentLocked(const PreparedDeployment& prepared)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status CheckArtifacts(const core::DeploymentSpec& spec);
  // Each key of `traffic` and `mirror` must name a deployment of `endpoint`, ignoring case; the
  // keys are replaced by the deployments' names as written, so routing finds them. `targets`
  // gets the records (with their revisions) of the deployments given a positive share.
  absl::Status ResolveTrafficTargets(const std::string& endpoint,
                                     std::map<std::string, int>* traffic,
                                     std::map<std::string, int>* mirror,
                                     std::vector<state::DeploymentRecord>* targets = nullptr);
  // The deployment named `name` ignoring case (names are unique that way); NOT_FOUND otherwise.
  absl::StatusOr<state::DeploymentRecord> FindDeployment(const std::string& endpoint,
                                                         const std::string& name);
  // Resolves a registered model (NOT_FOUND on `model` when absent) and pins the exact version
  // in `merged` and `parsed`. Returns the spec with the registered model filled in.
  absl::StatusOr<core::DeploymentSpec> ResolveModel(nlohmann::json& merged,
                                                    core::Parsed<core::DeploymentSpec>& parsed);
  absl::StatusOr<ModelRegistry*> Models();
  // Scoring-script and MLflow deployments: the interpreter runs, the conda file's packages are
  // installed (missing: error; other versions: warnings appended). Slow (runs the interpreter):
  // never called under the write lock.
  absl::Status CheckRuntime(const core::DeploymentSpec& spec, std::vector<std::string>* warnings);
  absl::Status SealNewKeys(state::EndpointRecord& record, bool primary, bool secondary);
  int64_t NowMs() const;

  state::StateStore& store_;
  const auth::SecretBox& secrets_;
  ArtifactStore& artifacts_;
  const Clock& clock_;
  ServiceOptions options_;
  OnChange on_change_;
  const InstanceObserver* observer_ = nullptr;
  ModelRegistry* models_ = nullptr;
  absl::Mutex write_mu_;
};

}  // namespace berth::controlplane
