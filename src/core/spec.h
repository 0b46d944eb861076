#pragma once
// Value types for what users declare: online endpoints and their deployments.
// Field names and defaults follow Azure ML's managedOnlineEndpoint / managedOnlineDeployment
// YAML (see docs/yaml.md). These are plain values: no I/O, copyable, comparable.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::core {

// Endpoint and deployment names are kept as written but compared ignoring ASCII case, as Azure
// does: `Green` and `green` name the same deployment.
bool SameName(std::string_view a, std::string_view b);

// `traffic` with each key replaced by the name in `names` it matches (SameName); a key that
// matches none stays as written. Traffic written before names kept their case may differ in case
// from the deployment it means.
std::map<std::string, int> TrafficByDeploymentName(const std::map<std::string, int>& traffic,
                                                   const std::vector<std::string>& names);

enum class AuthMode { kKey, kAmlToken };

// `key` / `aml_token` as written in YAML and returned by the API.
const char* AuthModeName(AuthMode mode);

enum class ProvisioningState { kCreating, kUpdating, kSucceeded, kFailed, kDeleting };
const char* ProvisioningStateName(ProvisioningState state);
std::optional<ProvisioningState> ParseProvisioningState(const std::string& name);
// True while an operation on the resource is still running (a write gets 409).
bool IsOperationRunning(ProvisioningState state);

struct EndpointSpec {
  std::string name;
  std::string description;
  std::map<std::string, std::string> tags;
  AuthMode auth_mode = AuthMode::kKey;
  // Deployment name (as written) -> percent. Entries of 0 are dropped when parsed (as the Azure
  // SDK does).
  std::map<std::string, int> traffic;
  // At most one entry, value in 1..50.
  std::map<std::string, int> mirror_traffic;
  // `public_network_access: disabled`: scoring answers only on berthd's private listener
  // (--private-listen); the public one answers 403.
  bool public_network_access = true;
  bool operator==(const EndpointSpec&) const = default;
};

struct ProbeSettings {
  int initial_delay_s = 10;
  int period_s = 10;
  int timeout_s = 2;
  int success_threshold = 1;
  int failure_threshold = 30;
  bool operator==(const ProbeSettings&) const = default;
};

struct RequestSettings {
  int request_timeout_ms = 5000;
  int max_concurrent_requests_per_instance = 1;
  // Whether the document set max_concurrent_requests_per_instance: when it did not, deployments
  // served by berth-worker get kWorkerDefaultConcurrency instead (EffectiveRequestSettings).
  bool max_concurrent_given = false;
  int max_queue_wait_ms = 500;
  // berth extension: when an instance dies or cannot be reached before it sent any byte of its
  // answer, the gateway sends the request once more to another instance. False for models whose
  // scoring has side effects (a retried request may have been scored already).
  bool retry_on_instance_failure = true;
  // The settings, not where they came from: a document and its echo (ToJson) compare equal.
  bool operator==(const RequestSettings& other) const {
    return request_timeout_ms == other.request_timeout_ms &&
           max_concurrent_requests_per_instance == other.max_concurrent_requests_per_instance &&
           max_queue_wait_ms == other.max_queue_wait_ms &&
           retry_on_instance_failure == other.retry_on_instance_failure;
  }
};

// `scale_settings.type`: `default` keeps instance_count instances (manual scaling);
// `target_utilization` scales between min_instances and max_instances on load (docs/yaml.md,
// "Autoscaling").
enum class ScaleType { kDefault, kTargetUtilization };

// `scale_settings`, with Azure's Kubernetes field names and defaults. With kDefault the other
// fields keep their defaults (the Azure SDK drops them).
struct ScaleSettings {
  ScaleType type = ScaleType::kDefault;
  int min_instances = 1;  // 0 lets an idle deployment scale to zero
  int max_instances = 1;
  int target_utilization_percentage = 70;
  int polling_interval_s = 1;
  // berth extension (`scale_down_delay`, seconds): how long load must stay lower before
  // instances are removed, and how long a deployment must be idle before it scales to zero.
  // 0 means 20 x polling_interval: azureml-fe removes replicas about 20 times slower than it
  // adds them.
  int scale_down_delay_s = 0;

  int ScaleDownDelaySeconds() const;
  bool operator==(const ScaleSettings&) const = default;
};

// An uploaded folder or file, stored content-addressed by the server.
struct ArtifactRef {
  std::string digest;     // "sha256:<64 hex>" of the deterministic tar the CLI uploads
  std::string base_name;  // the folder's or file's own name, e.g. "model" or "model.pkl"
  bool is_file = false;   // a single file rather than a folder
  bool operator==(const ArtifactRef&) const = default;
};

struct ModelSpec {
  std::string name;     // inline models default to "<endpoint>-<deployment>"
  std::string version;  // inline models default to "1"
  std::string type = "custom_model";
  std::string path;  // as the user wrote it (informational)
  std::optional<ArtifactRef> artifact;
  std::string reference;  // "azureml:<name>:<version>" when not inline
  std::string description;
  bool operator==(const ModelSpec&) const = default;
};

struct CodeConfiguration {
  std::string code;  // as the user wrote it (informational)
  std::optional<ArtifactRef> artifact;
  std::string scoring_script;
  bool operator==(const CodeConfiguration&) const = default;
};

struct Route {
  int port = 0;
  std::string path;
  bool operator==(const Route&) const = default;
};

struct InferenceConfig {
  Route liveness_route;
  Route readiness_route;
  Route scoring_route;
  bool operator==(const InferenceConfig&) const = default;
};

struct EnvironmentSpec {
  // berth extension: argv of a program serving HTTP on {port} / $PORT.
  std::vector<std::string> command;
  std::optional<InferenceConfig> inference_config;
  std::string reference;   // "azureml:<name>:<version>"
  std::string image;       // accepted, not honoured (warning)
  std::string conda_file;  // as the user wrote it (informational)
  // berth extension: the conda file's content as JSON text (the CLI reads conda_file), checked
  // against the interpreter when the deployment is written.
  std::string conda;
  // berth extension: the Python interpreter of a scoring-script deployment ("" = berthd's).
  std::string python;
  bool operator==(const EnvironmentSpec&) const = default;
};

// `resources.limits` (Kubernetes deployments): what one instance may use; 0 = no limit.
struct ResourceLimits {
  uint64_t memory_bytes = 0;
  int cpu_millis = 0;  // 1000 = one core
  bool operator==(const ResourceLimits&) const = default;
};

struct DeploymentSpec {
  std::string name;
  std::string endpoint_name;
  std::string description;
  std::map<std::string, std::string> tags;
  std::optional<ModelSpec> model;
  std::optional<CodeConfiguration> code_configuration;
  EnvironmentSpec environment;
  std::map<std::string, std::string> environment_variables;
  std::string instance_type;
  // With scale_settings.type target_utilization this is InitialInstances (the parser sets it):
  // the autoscaler, not instance_count, sizes the deployment afterwards.
  int instance_count = 1;
  ScaleSettings scale_settings;
  RequestSettings request_settings;
  ProbeSettings liveness_probe;
  ProbeSettings readiness_probe;
  // `egress_public_network_access: disabled`: the instance has no network but its socket to
  // berthd (docs/yaml.md, "Network isolation").
  bool egress_public_network_access = true;
  ResourceLimits resource_limits;
  bool operator==(const DeploymentSpec&) const = default;
};

// How many instances a deployment starts with: instance_count for type default; for
// target_utilization max(1, min_instances) clamped to max_instances. A new deployment starts
// one instance even with min_instances 0, so that create proves the deployment works; it may
// scale to zero afterwards.
int InitialInstances(const DeploymentSpec& spec);

// Which process serves a deployment (docs/yaml.md, "Which process serves a deployment").
enum class ServingKind {
  kCustomCommand,  // environment.command
  kScoringScript,  // code_configuration.scoring_script, run by the Python runner
  kMlflow,         // an MLflow model with no script, run by the Python runner's MLflow mode
                   // (berth-worker when its flavor is xgboost: see LaunchInputs::native_mlflow)
  kTritonModel,    // model.type triton_model: a Triton model repository, run by berth-worker
};
// kMlflow means "no command, no script and not a triton_model"; whether the model really is an
// MLflow model is checked where its files are (the control plane).
ServingKind ServingKindOf(const DeploymentSpec& spec);

// Where a deployment's scoring and probe requests go on an instance.
struct ServingRoutes {
  std::string liveness_path = "/";
  std::string readiness_path = "/";
  std::string scoring_path = "/score";
  std::string swagger_path = "/swagger.json";
};
ServingRoutes RoutesFor(const DeploymentSpec& spec);

// Azure's default of one request at a time per instance would leave berth-worker's dynamic
// batcher nothing to batch, so its deployments default to this many (docs/worker.md).
inline constexpr int kWorkerDefaultConcurrency = 256;
// The request settings the gateway enforces: `native` when berth-worker serves the deployment.
RequestSettings EffectiveRequestSettings(const DeploymentSpec& spec, bool native);

}  // namespace berth::core
