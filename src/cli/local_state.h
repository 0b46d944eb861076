#pragma once
// The state folder of `--local` endpoints (docs/local.md): one folder per endpoint,
//
//   <root>/<endpoint>/endpoint.json     the endpoint's spec and timestamps
//                     deployment.json   its one deployment: spec, sources, process, port, state
//                     app/              copy of code_configuration.code (the working directory)
//                     models/<name>/<version>/<base_name>   copy of model.path
//                     logs/inference-server.log
//                     .lock             flock()ed by commands that change the endpoint
//
// <root> is $BERTH_LOCAL_DIR, else $XDG_STATE_HOME/berth/local, else
// ~/.local/state/berth/local. Records are replaced atomically (write, then rename), so readers
// never lock.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/config.h"
#include "cli/local_process.h"
#include "common/clock.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// The root folder from the environment; FAILED_PRECONDITION when none of the variables is set.
absl::StatusOr<std::filesystem::path> LocalStateRoot(const EnvLookup& env);

// "2026-11-24T20:00:00Z".
std::string FormatTimestamp(SystemTime time);

struct LocalEndpointRecord {
  nlohmann::json spec;  // core::ToJson(EndpointSpec)
  std::vector<std::string> warnings;
  std::string created_at;
  std::string updated_at;
};

struct LocalDeploymentRecord {
  nlohmann::json spec;  // core::ToJson(DeploymentSpec); paths as the user wrote them
  // The absolute paths the model and code were copied from ("" when absent): an update that
  // does not name new ones copies them again from there.
  std::string model_source;
  std::string code_source;
  std::string model_dir;  // AZUREML_MODEL_DIR given to the process ("" without a model)
  ProcessIdentity process;
  int port = 0;
  std::string state;  // Creating, Updating, Succeeded, Failed
  std::string reason;
  std::vector<std::string> warnings;
  // From the spec, kept so that views need not parse it again.
  std::string readiness_path = "/";
  std::string scoring_path = "/score";
  std::string swagger_path = "/swagger.json";
  int startup_timeout_s = 0;  // how long Creating/Updating may last before it reads Failed
  std::string started_at;     // when the process was started
  std::string created_at;
  std::string updated_at;

  std::string Name() const;
};

nlohmann::json ToJson(const LocalEndpointRecord& record);
nlohmann::json ToJson(const LocalDeploymentRecord& record);
absl::StatusOr<LocalEndpointRecord> EndpointRecordFromJson(const nlohmann::json& doc);
absl::StatusOr<LocalDeploymentRecord> DeploymentRecordFromJson(const nlohmann::json& doc);

// What a command saw of the deployment's process just now.
struct LocalObservation {
  bool running = false;
  std::string exit_text;  // when not running (ProcessStatus::exit_text)
  bool ready = false;     // the readiness route answered 2xx/3xx
  SystemTime now;
};

// The state a view shows: the recorded one, corrected by what was observed (a dead process is
// Failed; a ready one is no longer Creating; past its startup time it is Failed).
struct EffectiveState {
  std::string state;
  std::string reason;
};
EffectiveState Effective(const LocalDeploymentRecord& record, const std::string& endpoint,
                         const LocalObservation& observed);

// The deployment as `online-deployment show --local` prints it: the spec with
// provisioning_state, reason, warnings, instances (one), scoring_uri, log_file, timestamps.
nlohmann::json DeploymentView(const LocalDeploymentRecord& record, const std::string& endpoint,
                              const std::filesystem::path& log_file,
                              const LocalObservation& observed);

// The endpoint as `online-endpoint show --local` prints it: its spec with traffic (the one
// deployment gets all of it), provisioning_state Succeeded, location "local", scoring_uri and
// openapi_uri on the deployment's port ("" without a deployment).
nlohmann::json EndpointView(const LocalEndpointRecord& record,
                            const LocalDeploymentRecord* deployment);

// The URL of `path` on the deployment's port on 127.0.0.1.
std::string LocalUrl(int port, const std::string& path);

// Copies a folder (recursively; `__pycache__` and `.git` are left out, as the packer does) or a
// single file to `target`, which must not exist. Symbolic links and special files are
// INVALID_ARGUMENT naming them.
absl::Status CopyLocalTree(const std::filesystem::path& source,
                           const std::filesystem::path& target);

// An exclusive flock() on an endpoint's .lock, released when destroyed.
class EndpointLock {
 public:
  explicit EndpointLock(int fd) : fd_(fd) {}
  EndpointLock(EndpointLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  EndpointLock& operator=(EndpointLock&&) = delete;
  ~EndpointLock();

 private:
  int fd_;
};

// The folders and records under the root.
class LocalStore {
 public:
  explicit LocalStore(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path EndpointDir(const std::string& endpoint) const;
  std::filesystem::path AppDir(const std::string& endpoint) const;
  std::filesystem::path ModelsDir(const std::string& endpoint) const;
  std::filesystem::path LogFile(const std::string& endpoint) const;

  // ALREADY_EXISTS when the endpoint exists. The folder appears whole (made aside, renamed).
  absl::Status CreateEndpoint(const std::string& name, const LocalEndpointRecord& record);
  // NOT_FOUND naming the command that creates it.
  absl::StatusOr<LocalEndpointRecord> ReadEndpoint(const std::string& name) const;
  // Names of the endpoints, sorted.
  absl::StatusOr<std::vector<std::string>> ListEndpoints() const;
  // Removes the endpoint's folder (moved aside first, so it disappears at once).
  absl::Status RemoveEndpoint(const std::string& name);

  // The endpoint's deployment, if it has one.
  absl::StatusOr<std::optional<LocalDeploymentRecord>> ReadDeployment(
      const std::string& endpoint) const;
  absl::Status WriteDeployment(const std::string& endpoint, const LocalDeploymentRecord& record);
  // Removes deployment.json, app/, models/ and logs/.
  absl::Status RemoveDeployment(const std::string& endpoint);

  // Locks the endpoint for a change; NOT_FOUND when it does not exist.
  absl::StatusOr<EndpointLock> Lock(const std::string& endpoint) const;

  // A fresh folder in the endpoint's folder for staging files: ".staging-<pid>-<n>".
  absl::StatusOr<std::filesystem::path> MakeStagingDir(const std::string& endpoint) const;

 private:
  std::filesystem::path root_;
};

}  // namespace berth::cli
