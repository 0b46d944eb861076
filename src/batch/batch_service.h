#pragma once
// BatchService: the control-plane operations behind the batch routes (docs/batch.md): batch
// endpoints and deployments, compute clusters, data assets, and jobs (invocation, views,
// cancel, logs, download). It validates documents (core/batch_spec.h), enforces the
// cross-resource rules (a deployment names an existing compute within its size, a default
// names an existing deployment, no delete of what is in use), persists records as StateStore
// resources, and hands new jobs to the scheduler (JobRunner). A rejected request changes
// nothing: no record, no folder.
//
// Names: batch endpoints, batch deployments and computes are compared ignoring ASCII case, as
// online ones are: records are keyed by the lower-cased name and keep the spelling first
// written in their document. Data assets and jobs are case-sensitive.
//
// Files: <data-dir>/datastores/<store>/ is a datastore (docs/batch.md, "Datastores"), the
// default one being workspaceblobstore; <data-dir>/jobs/<job>/ is a job's folder (JobPaths).
//
// Threading: all methods may be called concurrently (from the management API's blocking pool).
// Writes are serialised with one mutex, held for the checks and the commit (they are storage
// reads and file-system probes, no slow work), so what a write checked still holds when it
// commits. The JobRunner is called outside the mutex. Errors are absl::Status values carrying
// the offending field as their target (common/errors.h): INVALID_ARGUMENT 400, NOT_FOUND 404,
// ALREADY_EXISTS / FAILED_PRECONDITION 409.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "batch/job_record.h"
#include "batch/job_runner.h"
#include "common/clock.h"
#include "common/random.h"
#include "controlplane/artifact_store.h"
#include "controlplane/model_registry.h"
#include "controlplane/paging.h"
#include "controlplane/python_environment.h"
#include "core/batch_spec.h"
#include "gateway/metrics.h"
#include "nlohmann/json.hpp"
#include "state/state_store.h"

namespace berth::batch {

inline constexpr char kDefaultDatastore[] = "workspaceblobstore";
// At most this much driver log per JobLog call.
inline constexpr int64_t kMaxLogChunk = 1 << 20;

struct BatchServiceOptions {
  std::filesystem::path data_dir;  // datastores under data_dir/datastores, jobs under data_dir/jobs
  std::string base_url;            // "http://127.0.0.1:8080", for scoring_uri
  // Where batch series live: those of deleted deployments are dropped. Optional.
  gateway::Metrics* metrics = nullptr;
  // The interpreter of deployments that name none (environment.python), and how one is read:
  // a deployment's conda file and its MLflow model's environment files are checked against it
  // when the deployment is written (controlplane/serving_checks.h).
  std::string python = "/usr/bin/python3";
  std::function<absl::StatusOr<controlplane::InterpreterInfo>(const std::string& python)>
      inspect_interpreter = controlplane::InspectInterpreter;
};

class BatchService {
 public:
  // Nothing is owned; all must outlive the service. `models` may be null: deployments naming a
  // registered model are then refused.
  BatchService(state::StateStore& store, controlplane::ArtifactStore& artifacts,
               controlplane::ModelRegistry* models, const Clock& clock, RandomSource& random,
               JobRunner& runner, BatchServiceOptions options);

  // Creates the jobs folder and the default datastore's folder. Call once before serving.
  absl::Status Init();

  struct Written {
    nlohmann::json view;
    bool created = false;
  };

  // Lists give one page (controlplane/paging.h); endpoints, deployments and computes by name.

  // -- batch endpoints
  absl::StatusOr<controlplane::Page> ListEndpoints(const controlplane::PageRequest& page);
  absl::StatusOr<nlohmann::json> GetEndpoint(const std::string& name);
  // Create-or-merge (PUT) or merge only (PATCH, `allow_create` false: NOT_FOUND when absent).
  // A `defaults.deployment_name` must name a deployment of the endpoint (NOT_FOUND on it).
  absl::StatusOr<Written> ApplyEndpoint(const std::string& name, const nlohmann::json& doc,
                                        bool allow_create);
  // Removes the endpoint and its deployments (one commit); its jobs stay. Returns the last view.
  absl::StatusOr<nlohmann::json> DeleteEndpoint(const std::string& name);

  // -- batch deployments
  absl::StatusOr<controlplane::Page> ListDeployments(const std::string& endpoint,
                                                     const controlplane::PageRequest& page);
  absl::StatusOr<nlohmann::json> GetDeployment(const std::string& endpoint,
                                               const std::string& name);
  // Create-or-merge / merge only, as ApplyEndpoint. `set_default` also makes it the endpoint's
  // default deployment in the same commit (a new deployment is never the default by itself).
  absl::StatusOr<Written> ApplyDeployment(const std::string& endpoint, const std::string& name,
                                          const nlohmann::json& doc, bool allow_create,
                                          bool set_default);
  // FAILED_PRECONDITION while it is the default and other deployments exist, or while one of
  // its jobs has not ended. Deleting the only deployment clears the endpoint's default.
  absl::StatusOr<nlohmann::json> DeleteDeployment(const std::string& endpoint,
                                                  const std::string& name);

  // -- compute clusters
  absl::StatusOr<controlplane::Page> ListComputes(const controlplane::PageRequest& page);
  absl::StatusOr<nlohmann::json> GetCompute(const std::string& name);
  // Create-or-replace. INVALID_ARGUMENT on max_instances when a deployment needs more.
  absl::StatusOr<Written> PutCompute(const std::string& name, const nlohmann::json& doc);
  // FAILED_PRECONDITION while a batch deployment names it.
  absl::StatusOr<nlohmann::json> DeleteCompute(const std::string& name);

  // -- data assets (key "<name>/<version>")
  // Every version of `name` ("" = of every asset), by name, then integer versions numerically,
  // then the others. The page token is "<name>/<version>".
  absl::StatusOr<controlplane::Page> ListData(const std::string& name,
                                              const controlplane::PageRequest& page);
  // `version` "latest": the newest version not archived.
  absl::StatusOr<nlohmann::json> GetData(const std::string& name, const std::string& version);
  // No version: the next integer. ALREADY_EXISTS when the version exists; NOT_FOUND on `path`
  // for a datastore path absent here, on `artifact` for files not uploaded.
  absl::StatusOr<nlohmann::json> CreateData(const nlohmann::json& doc);
  absl::StatusOr<nlohmann::json> ArchiveData(const std::string& name, const std::string& version);

  // -- jobs
  // Starts a job on `endpoint` (docs/batch.md, "Job request"); `deployment_header` is the
  // azureml-model-deployment header ("" when absent). Returns the job's view.
  absl::StatusOr<nlohmann::json> Invoke(const std::string& endpoint, const nlohmann::json& body,
                                        const std::string& deployment_header);
  absl::StatusOr<nlohmann::json> GetJob(const std::string& name);
  // Jobs newest first, of `endpoint` and/or `deployment` ("" = any; compared ignoring case).
  // The page token is "<created_at_ms>/<name>" of the page's last job.
  absl::StatusOr<controlplane::Page> ListJobs(const std::string& endpoint,
                                              const std::string& deployment,
                                              const controlplane::PageRequest& page);
  // As ListJobs, but NOT_FOUND unless the endpoint (and the deployment, when given) exists.
  absl::StatusOr<controlplane::Page> ListEndpointJobs(const std::string& endpoint,
                                                      const std::string& deployment,
                                                      const controlplane::PageRequest& page);
  // Asks the scheduler to stop the job; the view afterwards.
  absl::StatusOr<nlohmann::json> CancelJob(const std::string& name);
  // {"offset": <next offset>, "text": <driver log from `offset`, at most kMaxLogChunk bytes>,
  //  "job": <view>}.
  absl::StatusOr<nlohmann::json> JobLog(const std::string& name, int64_t offset);
  // A tar (pax): the output folder as named-outputs/score/...; with `all`, also the job's logs
  // as artifacts/logs/... and artifacts/azureml-logs/....
  absl::StatusOr<std::string> DownloadJob(const std::string& name, const std::string& output,
                                          bool all);

  // Where a datastore keeps its files: <data-dir>/datastores/<store>.
  std::filesystem::path DatastoreRoot(const std::string& datastore) const;
  const std::filesystem::path& jobs_root() const { return jobs_root_; }

 private:
  struct EndpointRead {
    state::ResourceRecord record;
    core::BatchEndpointSpec spec;
  };
  struct DeploymentRead {
    state::ResourceRecord record;
    core::BatchDeploymentSpec spec;
  };
  absl::StatusOr<EndpointRead> ReadEndpoint(const std::string& name);
  absl::StatusOr<DeploymentRead> ReadDeployment(const std::string& endpoint,
                                                const std::string& name);
  absl::StatusOr<std::vector<DeploymentRead>> ReadDeployments(const std::string& endpoint);
  // Drops the metrics series of batch deployments that no longer exist (after a delete).
  void ForgetDeletedInMetrics();
  absl::StatusOr<core::ComputeSpec> ReadCompute(const std::string& name, std::string_view field);
  // The registered model a deployment names, filled in (NOT_FOUND on `model`).
  absl::StatusOr<core::ModelSpec> ResolveModel(const core::ModelSpec& model);
  // What the worker runs: an MLflow model when there is no scoring script, and the Python
  // dependencies declared (controlplane/serving_checks.h). Returns the warnings.
  absl::StatusOr<std::vector<std::string>> CheckRuntime(const core::DeploymentSpec& worker);
  absl::StatusOr<state::ResourceRecord> FindData(const std::string& name,
                                                 const std::string& version);

  nlohmann::json EndpointView(const state::ResourceRecord& record,
                              const core::BatchEndpointSpec& spec) const;
  nlohmann::json DeploymentView(const state::ResourceRecord& record,
                                const core::BatchDeploymentSpec& spec) const;
  nlohmann::json JobView(const Job& job) const;

  // The host folder or file of a job input, checked to exist and to be of `input.type`.
  absl::StatusOr<std::filesystem::path> ResolveInput(const core::JobInput& input)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::StatusOr<std::filesystem::path> DataHostPath(const core::DataAsset& asset,
                                                     std::string_view field);
  absl::StatusOr<std::filesystem::path> DatastoreHostPath(const std::string& uri,
                                                          std::string_view field,
                                                          core::DatastorePath* parsed = nullptr);
  absl::StatusOr<Job> PrepareJob(const std::string& endpoint, const nlohmann::json& body,
                                 const std::string& deployment_header)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  std::string NewJobName();
  int64_t NowMs() const;

  state::StateStore& store_;
  controlplane::ArtifactStore& artifacts_;
  controlplane::ModelRegistry* models_;
  const Clock& clock_;
  RandomSource& random_;
  JobRunner& runner_;
  BatchServiceOptions options_;
  std::filesystem::path datastores_root_;
  std::filesystem::path jobs_root_;
  JobRepository jobs_;
  absl::Mutex write_mu_;
};

}  // namespace berth::batch
