#pragma once
// Value types and the single validator for the batch side (docs/batch.md): batch endpoints,
// batch deployments, compute clusters, data assets and job requests (an invocation). Field names
// and defaults follow Azure ML's batchEndpoint / modelBatchDeployment / amlCompute / data YAML
// (../shared/reference/azure-batch-endpoints.md). Pure: no I/O.
//
// Errors are INVALID_ARGUMENT made with berth::InvalidField, so ErrorTarget() names the field
// ("settings.mini_batch_size", "auth_mode"). Unknown fields are errors suggesting the closest
// known one; read-only fields of the API's own answers (id, created_at, provisioning_state,
// scoring_uri, ...) are ignored so a shown resource can be written back.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model_asset.h"
#include "core/spec.h"
#include "core/spec_json.h"
#include "nlohmann/json.hpp"

namespace berth::core {

// ---------------------------------------------------------------------------------------------
// Batch endpoint.

struct BatchEndpointSpec {
  std::string name;  // ValidateName("endpoint", ...)
  std::string description;
  std::map<std::string, std::string> tags;
  // Azure's only value; satisfied by berthd's admin credential until OIDC exists. Any other
  // value is INVALID_ARGUMENT on `auth_mode`.
  std::string auth_mode = "aad_token";
  std::string default_deployment;  // `defaults.deployment_name`, "" = none
  bool operator==(const BatchEndpointSpec&) const = default;
};

absl::StatusOr<Parsed<BatchEndpointSpec>> ParseBatchEndpointSpec(const nlohmann::json& doc);
nlohmann::json ToJson(const BatchEndpointSpec& spec);  // full document, defaults applied

// ---------------------------------------------------------------------------------------------
// Batch deployment (`type: model`; `type: pipeline` is refused on `type`).

enum class OutputAction { kAppendRow, kSummaryOnly };
const char* OutputActionName(OutputAction action);  // "append_row" / "summary_only"

struct BatchRetrySettings {
  int max_retries = 3;  // retries after the first try (docs/batch.md, "Decisions")
  int timeout_s = 30;   // per run() call; > 0
  bool operator==(const BatchRetrySettings&) const = default;
};

struct BatchSettings {
  int max_concurrency_per_instance = 1;  // >= 1
  int mini_batch_size = 10;              // files per run() call, >= 1
  OutputAction output_action = OutputAction::kAppendRow;
  std::string output_file_name = "predictions.csv";  // a plain file name (no '/', no "..")
  BatchRetrySettings retry_settings;
  int error_threshold = -1;            // failed files tolerated over the job; -1 = no limit
  std::string logging_level = "info";  // warning | info | debug (case-insensitive on input)
  std::map<std::string, std::string> environment_variables;
  bool operator==(const BatchSettings&) const = default;
};

struct BatchDeploymentSpec {
  std::string name;
  std::string endpoint_name;
  std::string description;
  std::map<std::string, std::string> tags;
  std::optional<ModelSpec> model;                       // required
  std::optional<CodeConfiguration> code_configuration;  // absent: an MLflow model, no script
  EnvironmentSpec environment;
  std::string compute;     // cluster name from `azureml:<name>` ("" = berthd's own workers)
  int instance_count = 1;  // `resources.instance_count`, >= 1
  BatchSettings settings;
  bool operator==(const BatchDeploymentSpec&) const = default;
};

// Accepts `type: model` with a `settings:` block, and the legacy layout (no `type`, the settings
// at the root: mini_batch_size, retry_settings, ...; `instance_count` at the root too). Mixing
// both is INVALID_ARGUMENT. `options.allow_local_paths` as for online deployments.
absl::StatusOr<Parsed<BatchDeploymentSpec>> ParseBatchDeploymentSpec(
    const nlohmann::json& doc, const DeploymentParseOptions& options = {});
// The full document in the current layout (`type: model`, `settings:`), defaults applied.
nlohmann::json ToJson(const BatchDeploymentSpec& spec);
// The same document converted to the legacy layout's fields is accepted by the parser; an
// update document in either layout merges over the stored one after this conversion:
// NormalizeBatchDeploymentDocument moves root-level settings under `settings`, `instance_count`
// under `resources`, and sets `type: model` (INVALID_ARGUMENT when both layouts are mixed).
absl::StatusOr<nlohmann::json> NormalizeBatchDeploymentDocument(const nlohmann::json& doc);

// The DeploymentSpec a batch worker is launched from (model, code, environment, variables):
// what the launcher and launch plan share with online deployments.
DeploymentSpec WorkerDeploymentSpec(const BatchDeploymentSpec& spec);

// ---------------------------------------------------------------------------------------------
// Compute cluster (`type: amlcompute`).

enum class ComputeTier { kDedicated, kLowPriority };
const char* ComputeTierName(ComputeTier tier);  // "dedicated" / "low_priority"

struct ComputeSpec {
  std::string name;                 // Azure: 2-16 chars, letter first, letters, digits, '-'
  std::string type = "amlcompute";  // the only type
  std::string description;
  std::map<std::string, std::string> tags;
  std::string size = "Standard_DS3_v2";  // accepted, informational
  int min_instances = 0;
  int max_instances = 4;                       // >= max(1, min_instances)
  int idle_time_before_scale_down = 120;       // seconds, informational (workers stop with the job)
  ComputeTier tier = ComputeTier::kDedicated;  // input also accepts "LowPriority"/"Dedicated"
  std::string location;                        // accepted, informational
  bool operator==(const ComputeSpec&) const = default;
};

absl::StatusOr<Parsed<ComputeSpec>> ParseComputeSpec(const nlohmann::json& doc);
nlohmann::json ToJson(const ComputeSpec& spec);

// ---------------------------------------------------------------------------------------------
// Data asset (`uri_folder` / `uri_file`; `mltable` is refused on `type`).

enum class DataType { kUriFolder, kUriFile };
const char* DataTypeName(DataType type);  // "uri_folder" / "uri_file"
std::optional<DataType> ParseDataType(const std::string& text);

struct DataAsset {
  std::string name;     // ValidateAssetName
  std::string version;  // "" = the next integer
  DataType type = DataType::kUriFolder;
  std::string description;
  std::map<std::string, std::string> tags;
  std::string path;  // as written (a local path, or a datastore path azureml://datastores/...)
  std::optional<ArtifactRef> artifact;  // the uploaded folder or file (local paths)
  bool archived = false;                // read-only for writers; set by `data archive`
  bool operator==(const DataAsset&) const = default;
};

struct DataParseOptions {
  bool allow_local_paths = false;  // the CLI, before it uploads `path`
};
// A local `path` needs `artifact` on the server; a datastore path needs none. A uri_file asset
// whose artifact is a folder (or the reverse) is INVALID_ARGUMENT on `type`.
absl::StatusOr<DataAsset> ParseDataAsset(const nlohmann::json& doc,
                                         const DataParseOptions& options = {});
nlohmann::json ToJson(const DataAsset& asset);

// `azureml:<name>:<version>` / `azureml:<name>@latest` (version "").
absl::StatusOr<AssetReference> ParseDataReference(const std::string& text, std::string_view field);

// ---------------------------------------------------------------------------------------------
// Datastore paths: azureml://datastores/<store>/paths/<path> (docs/batch.md, "Datastores").

struct DatastorePath {
  std::string datastore;
  std::string path;  // relative, normalised ("a/b"), "" = the datastore's root
  bool operator==(const DatastorePath&) const = default;
};
bool IsDatastoreUri(std::string_view text);  // starts with "azureml://datastores/"
// INVALID_ARGUMENT on `field` for a malformed URI, an empty or unsafe store name (Azure's rule:
// lowercase letters, digits, '_'), or a path that climbs out of the datastore (".." segments).
// The path is normalised: empty and "." segments dropped (so a leading '/' is just relative).
absl::StatusOr<DatastorePath> ParseDatastorePath(std::string_view text, std::string_view field);
std::string DatastoreUri(const DatastorePath& path);

// ---------------------------------------------------------------------------------------------
// Job request: one invocation of a batch endpoint.

enum class JobPriority { kNormal, kLow };
const char* JobPriorityName(JobPriority priority);  // "normal" / "low"

struct JobInput {
  DataType type = DataType::kUriFolder;
  // One of: a data asset reference (azureml:<name>:<version> | azureml:<name>@latest), a
  // datastore URI, or an uploaded local path (then `artifact` is set and `path` is the local
  // path as the user wrote it, informational).
  std::string path;
  std::optional<ArtifactRef> artifact;
  bool operator==(const JobInput&) const = default;
};

// Per-job overrides of the deployment's settings; nullopt = the deployment's value.
struct JobOverrides {
  std::optional<int> mini_batch_size;
  std::optional<int> instance_count;
  std::optional<int> max_concurrency_per_instance;
  std::optional<int> max_retries;
  std::optional<int> timeout_s;
  std::optional<int> error_threshold;
  std::optional<std::string> output_file_name;
  std::optional<std::string> logging_level;
  std::map<std::string, std::string> environment_variables;  // merged over the deployment's
  bool operator==(const JobOverrides&) const = default;
};

struct JobRequest {
  std::string name;        // --job-name; "" = generated
  std::string deployment;  // "" = the endpoint's default
  JobInput input;
  std::string output_path;  // a datastore URI; "" = the default (docs/batch.md)
  JobOverrides overrides;
  std::optional<JobPriority> priority;  // nullopt: low when the compute's tier is low_priority
  std::string experiment_name;
  std::string description;
  std::map<std::string, std::string> tags;
  bool operator==(const JobRequest&) const = default;
};

// Parses an invocation body. Accepted shapes:
// - berth's own (what `berth batch-endpoint invoke` sends): {"name", "deployment", "input":
//   {"type", "path", "artifact"}, "output_path", "settings": {mini_batch_size, instance_count,
//   max_concurrency_per_instance, retry_settings: {max_retries, timeout}, error_threshold,
//   output_file_name, logging_level, environment_variables}, "priority", "experiment_name",
//   "description", "tags"};
// - Azure's data-plane body, PascalCase or camelCase: {"properties": {"InputData"|"inputData":
//   {"<name>": {"JobInputType"|"jobInputType": "UriFolder|UriFile", "Uri"|"uri": ...}},
//   "OutputData"|"outputData": {"<name>": {"Uri"|"uri": ...}}, "outputDataset": {"path"},
//   "miniBatchSize", "compute": {"instanceCount"}, "errorThreshold", "retrySettings":
//   {"maxRetries", "timeout": "PT30S" or seconds}, "outputFileName", "loggingLevel",
//   "maxConcurrencyPerInstance", "environmentVariables", "description", "tags", "properties":
//   {"experimentName"}}} — exactly one input; a Literal input is refused with Azure's message.
// `deployment_header` (the azureml-model-deployment header, "" when absent) wins over a body
// `deployment`. Every number is range-checked here (mini_batch_size >= 1, ...).
absl::StatusOr<JobRequest> ParseJobRequest(const nlohmann::json& body,
                                           const std::string& deployment_header);
nlohmann::json ToJson(const JobRequest& request);  // berth's own shape

// The settings a job runs with: the deployment's with the overrides applied.
struct EffectiveJobSettings {
  int instance_count = 1;
  BatchSettings settings;
  bool operator==(const EffectiveJobSettings&) const = default;
};
EffectiveJobSettings ApplyOverrides(const BatchDeploymentSpec& deployment,
                                    const JobOverrides& overrides);
nlohmann::json ToJson(const EffectiveJobSettings& settings);
absl::StatusOr<EffectiveJobSettings> ParseEffectiveJobSettings(const nlohmann::json& doc);

// Job states, as Azure names them.
enum class JobStatus {
  kNotStarted,
  kQueued,
  kPreparing,
  kRunning,
  kFinalizing,
  kCompleted,
  kFailed,
  kCancelRequested,
  kCanceled,
};
const char* JobStatusName(JobStatus status);
std::optional<JobStatus> ParseJobStatus(const std::string& name);
bool IsTerminal(JobStatus status);  // Completed, Failed, Canceled

}  // namespace berth::core
