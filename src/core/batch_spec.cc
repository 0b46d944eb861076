// The batch documents <-> values: batch endpoints and deployments, compute clusters, data assets,
// datastore paths and job requests (docs/batch.md).

#include "core/batch_spec.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <regex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/deployment_parts.h"
#include "core/json_fields.h"
#include "core/model_asset.h"

namespace berth::core {
namespace {

using internal::AsciiLower;
using internal::kMaxInstanceCount;
using internal::ObjectView;
using internal::TypeError;
using nlohmann::json;

constexpr int kIntMax = std::numeric_limits<int>::max();
// Worker processes one instance may run: each is a Python interpreter with the model loaded.
constexpr int kMaxConcurrencyPerInstance = 64;
constexpr size_t kMinComputeNameLength = 2;
constexpr size_t kMaxComputeNameLength = 16;
constexpr size_t kMaxDatastoreNameLength = 255;
constexpr std::string_view kDatastorePrefix = "azureml://datastores/";
constexpr std::string_view kDatastoreForm = "azureml://datastores/<datastore>/paths/<path>";

// Fields of the API's own answers: a shown resource can be written back.
const std::vector<std::string> kReadOnlyFields = {
    "$schema",    "id",     "provisioning_state", "scoring_uri", "created_at",
    "updated_at", "reason", "warnings",           "location",    "generation"};

// The settings of a model batch deployment: under `settings`, or at the root in the legacy
// layout (with `instance_count`).
const std::vector<std::string> kSettingKeys = {"max_concurrency_per_instance",
                                               "mini_batch_size",
                                               "output_action",
                                               "output_file_name",
                                               "retry_settings",
                                               "error_threshold",
                                               "logging_level",
                                               "environment_variables"};

// Where the overridable settings sit in one document shape: berth's (snake_case, as in the YAML)
// or Azure's REST body (camelCase).
struct SettingNames {
  std::string max_concurrency_per_instance;
  std::string mini_batch_size;
  std::string output_file_name;
  std::string retry_settings;
  std::string max_retries;
  std::string timeout;
  std::string error_threshold;
  std::string logging_level;
  std::string environment_variables;
};
const SettingNames kYamlNames = {"max_concurrency_per_instance",
                                 "mini_batch_size",
                                 "output_file_name",
                                 "retry_settings",
                                 "max_retries",
                                 "timeout",
                                 "error_threshold",
                                 "logging_level",
                                 "environment_variables"};
const SettingNames kRestNames = {"maxConcurrencyPerInstance",
                                 "miniBatchSize",
                                 "outputFileName",
                                 "retrySettings",
                                 "maxRetries",
                                 "timeout",
                                 "errorThreshold",
                                 "loggingLevel",
                                 "environmentVariables"};

template <typename Enum>
using EnumNames = std::vector<std::pair<std::string, Enum>>;
const EnumNames<OutputAction> kOutputActions = {{"append_row", OutputAction::kAppendRow},
                                                {"summary_only", OutputAction::kSummaryOnly}};
const EnumNames<ComputeTier> kComputeTiers = {{"dedicated", ComputeTier::kDedicated},
                                              {"low_priority", ComputeTier::kLowPriority}};
const EnumNames<DataType> kDataTypes = {{"uri_folder", DataType::kUriFolder},
                                        {"uri_file", DataType::kUriFile}};
const EnumNames<JobStatus> kJobStatuses = {
    {"NotStarted", JobStatus::kNotStarted}, {"Queued", JobStatus::kQueued},
    {"Preparing", JobStatus::kPreparing},   {"Running", JobStatus::kRunning},
    {"Finalizing", JobStatus::kFinalizing}, {"Completed", JobStatus::kCompleted},
    {"Failed", JobStatus::kFailed},         {"CancelRequested", JobStatus::kCancelRequested},
    {"Canceled", JobStatus::kCanceled}};

template <typename Enum>
const char* NameOf(const EnumNames<Enum>& names, Enum value) {
  for (const auto& [name, candidate] : names) {
    if (candidate == value) return name.c_str();
  }
  return "";
}

absl::string_view View(std::string_view text) { return {text.data(), text.size()}; }

// Lower case without '_': Azure's YAML writes `append_row` where its REST API writes `AppendRow`.
std::string Folded(std::string_view text) {
  std::string out = AsciiLower(text);
  out.erase(std::remove(out.begin(), out.end(), '_'), out.end());
  return out;
}

template <typename Enum>
std::optional<Enum> FindFolded(const EnumNames<Enum>& names, std::string_view text) {
  const std::string folded = Folded(text);
  for (const auto& [name, value] : names) {
    if (Folded(name) == folded) return value;
  }
  return std::nullopt;
}

// `value` at `path` as one of `names`, in either spelling (`low_priority`, `LowPriority`).
template <typename Enum>
absl::StatusOr<Enum> EnumFromJson(const json& value, std::string_view path,
                                  const EnumNames<Enum>& names) {
  std::vector<std::string> quoted;
  for (const auto& [name, unused] : names) quoted.push_back(absl::StrCat("'", name, "'"));
  const std::string expected = absl::StrCat("one of ", absl::StrJoin(quoted, ", "));
  if (!value.is_string()) return TypeError(path, expected, value);
  std::optional<Enum> found = FindFolded(names, value.get_ref<const std::string&>());
  if (!found.has_value()) return TypeError(path, expected, value);
  return *found;
}

template <typename Enum>
absl::Status ReadEnum(const ObjectView& view, const std::string& key, const EnumNames<Enum>& names,
                      Enum* out) {
  if (!view.Has(key)) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, EnumFromJson(view.Get(key), view.PathOf(key), names));
  return absl::OkStatus();
}

absl::Status Required(const ObjectView& view, const std::string& key, std::string_view why) {
  if (view.Has(key)) return absl::OkStatus();
  return InvalidField(view.PathOf(key), why);
}

// ---------------------------------------------------------------------------------------------
// Settings, shared by deployments, job requests and the settings a job runs with.

// An ISO-8601 duration of days, hours, minutes and whole seconds ("PT30S", "PT5M", "P1DT2H") in
// seconds; std::nullopt when `text` is not one, or is longer than an int holds.
std::optional<int> IsoDurationSeconds(const std::string& text) {
  static const std::regex kDuration(
      "P(?:(\\d{1,9})D)?(?:T(?:(\\d{1,9})H)?(?:(\\d{1,9})M)?(?:(\\d{1,9})S)?)?", std::regex::icase);
  std::smatch match;
  if (!std::regex_match(text, match, kDuration) || text.size() < 3 ||
      std::toupper(static_cast<unsigned char>(text.back())) == 'T') {
    return std::nullopt;  // "P" and "PT" name no duration
  }
  constexpr int64_t kUnitSeconds[] = {86400, 3600, 60, 1};
  int64_t total = 0;
  for (int part = 0; part < 4; ++part) {
    if (match[part + 1].matched) total += std::stoll(match.str(part + 1)) * kUnitSeconds[part];
  }
  if (total > kIntMax) return std::nullopt;
  return static_cast<int>(total);
}

// `retry_settings.timeout`: seconds, as an integer (the YAML) or an ISO-8601 duration (REST).
absl::StatusOr<int> TimeoutFromJson(const json& value, std::string_view path) {
  if (!value.is_string()) return internal::IntFromJson(value, path, 1, kIntMax);
  std::optional<int> seconds = IsoDurationSeconds(value.get_ref<const std::string&>());
  if (!seconds.has_value()) {
    return TypeError(path, "seconds (an integer) or an ISO-8601 duration such as 'PT30S'", value);
  }
  if (*seconds < 1) return InvalidField(path, "must be at least 1 second, got 0");
  return *seconds;
}

absl::StatusOr<int> MaxConcurrencyFromJson(const json& value, std::string_view path) {
  ASSIGN_OR_RETURN(int count, internal::IntFromJson(value, path, 1, kIntMax));
  if (count > kMaxConcurrencyPerInstance) {
    return InvalidField(path, absl::StrCat("berth runs at most ", kMaxConcurrencyPerInstance,
                                           " worker processes per instance, got ", count,
                                           "; raise instance_count for more workers"));
  }
  return count;
}

absl::Status CheckOutputFileName(std::string_view path, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    return InvalidField(
        path,
        absl::StrCat("must be a plain file name (no '/', not '.' or '..'), got '", name, "'"));
  }
  return absl::OkStatus();
}

absl::Status ReadOptionalInt(const ObjectView& view, const std::string& key, int min, int max,
                             std::optional<int>* out) {
  if (!view.Has(key)) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, internal::IntFromJson(view.Get(key), view.PathOf(key), min, max));
  return absl::OkStatus();
}

// The overridable settings present in `view`, each range-checked; `instance_count` is read by
// the callers, since where it sits differs by document shape.
absl::Status ReadSettingOverrides(const ObjectView& view, const SettingNames& names,
                                  JobOverrides* out) {
  if (view.Has(names.max_concurrency_per_instance)) {
    ASSIGN_OR_RETURN(out->max_concurrency_per_instance,
                     MaxConcurrencyFromJson(view.Get(names.max_concurrency_per_instance),
                                            view.PathOf(names.max_concurrency_per_instance)));
  }
  RETURN_IF_ERROR(ReadOptionalInt(view, names.mini_batch_size, 1, kIntMax, &out->mini_batch_size));
  RETURN_IF_ERROR(ReadOptionalInt(view, names.error_threshold, -1, kIntMax, &out->error_threshold));
  ASSIGN_OR_RETURN(auto retry,
                   view.ReadObject(names.retry_settings, {names.max_retries, names.timeout}));
  if (retry.has_value()) {
    RETURN_IF_ERROR(ReadOptionalInt(*retry, names.max_retries, 0, kIntMax, &out->max_retries));
    if (retry->Has(names.timeout)) {
      ASSIGN_OR_RETURN(out->timeout_s,
                       TimeoutFromJson(retry->Get(names.timeout), retry->PathOf(names.timeout)));
    }
  }
  if (view.Has(names.output_file_name)) {
    std::string name;
    RETURN_IF_ERROR(view.ReadString(names.output_file_name, &name));
    RETURN_IF_ERROR(CheckOutputFileName(view.PathOf(names.output_file_name), name));
    out->output_file_name = std::move(name);
  }
  if (view.Has(names.logging_level)) {
    std::string level;
    RETURN_IF_ERROR(view.ReadChoice(names.logging_level, {"warning", "info", "debug"}, &level));
    out->logging_level = std::move(level);
  }
  return internal::ReadEnvironmentVariables(view, names.environment_variables,
                                            &out->environment_variables);
}

void ApplyOverridesTo(const JobOverrides& overrides, EffectiveJobSettings* out) {
  BatchSettings& settings = out->settings;
  out->instance_count = overrides.instance_count.value_or(out->instance_count);
  settings.mini_batch_size = overrides.mini_batch_size.value_or(settings.mini_batch_size);
  settings.max_concurrency_per_instance =
      overrides.max_concurrency_per_instance.value_or(settings.max_concurrency_per_instance);
  settings.retry_settings.max_retries =
      overrides.max_retries.value_or(settings.retry_settings.max_retries);
  settings.retry_settings.timeout_s =
      overrides.timeout_s.value_or(settings.retry_settings.timeout_s);
  settings.error_threshold = overrides.error_threshold.value_or(settings.error_threshold);
  settings.output_file_name = overrides.output_file_name.value_or(settings.output_file_name);
  settings.logging_level = overrides.logging_level.value_or(settings.logging_level);
  for (const auto& [name, value] : overrides.environment_variables) {
    settings.environment_variables[name] = value;
  }
}

// All settings fields of `view` over `out`. `refuse_file_name_with_summary`: a document that
// names an output file for summary_only is refused, as the Azure SDK refuses it.
absl::Status ReadBatchSettings(const ObjectView& view, bool refuse_file_name_with_summary,
                               BatchSettings* out) {
  JobOverrides fields;
  RETURN_IF_ERROR(ReadSettingOverrides(view, kYamlNames, &fields));
  RETURN_IF_ERROR(ReadEnum(view, "output_action", kOutputActions, &out->output_action));
  if (refuse_file_name_with_summary && out->output_action == OutputAction::kSummaryOnly &&
      fields.output_file_name.has_value()) {
    return InvalidField(view.PathOf("output_file_name"),
                        "applies only with output_action append_row; summary_only writes no "
                        "output file (the Azure SDK refuses this too)");
  }
  EffectiveJobSettings effective{1, *out};
  ApplyOverridesTo(fields, &effective);
  *out = std::move(effective.settings);
  return absl::OkStatus();
}

json SettingsJson(const BatchSettings& settings, bool file_name_with_summary) {
  json doc = {{"max_concurrency_per_instance", settings.max_concurrency_per_instance},
              {"mini_batch_size", settings.mini_batch_size},
              {"output_action", OutputActionName(settings.output_action)},
              {"retry_settings",
               {{"max_retries", settings.retry_settings.max_retries},
                {"timeout", settings.retry_settings.timeout_s}}},
              {"error_threshold", settings.error_threshold},
              {"logging_level", settings.logging_level},
              {"environment_variables", json(settings.environment_variables)}};
  if (file_name_with_summary || settings.output_action == OutputAction::kAppendRow) {
    doc["output_file_name"] = settings.output_file_name;
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Batch deployments.

enum class Layout { kCurrent, kLegacy };

// `type: model` with `settings:` (current), or no `type` and the settings at the root (legacy).
// INVALID_ARGUMENT for `type: pipeline`, another type, or both layouts mixed.
absl::StatusOr<Layout> DeploymentLayout(const json& doc) {
  const bool typed = doc.contains("type") && !doc["type"].is_null();
  if (typed) {
    const json& type = doc["type"];
    if (type.is_string() && Folded(type.get_ref<const std::string&>()) == "pipeline") {
      return InvalidField("type",
                          "pipeline component deployments are not supported yet; berth deploys "
                          "models (type: model)");
    }
    if (!type.is_string() || Folded(type.get_ref<const std::string&>()) != "model") {
      return TypeError("type", "'model'", type);
    }
  }
  std::vector<std::string> root_keys = kSettingKeys;
  root_keys.push_back("instance_count");
  auto root_setting = std::find_if(root_keys.begin(), root_keys.end(),
                                   [&](const std::string& key) { return doc.contains(key); });
  if (root_setting == root_keys.end()) return Layout::kCurrent;
  const std::string& key = *root_setting;
  if (typed || doc.contains("settings")) {
    return InvalidField(
        key, absl::StrCat("belongs under `", key == "instance_count" ? "resources" : "settings",
                          "` with `type: model`; only the legacy layout (no "
                          "`type`, no `settings`) puts it at the root. Do not mix "
                          "the two layouts"));
  }
  if (key == "instance_count" || doc.contains("instance_count")) {
    const json& resources = doc.contains("resources") ? doc["resources"] : json();
    if (resources.is_object() && resources.contains("instance_count")) {
      return InvalidField("instance_count",
                          "given twice, at the root and under resources; keep one");
    }
  }
  return Layout::kLegacy;
}

absl::Status ValidateComputeName(std::string_view field, std::string_view name) {
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
  if (name.size() < kMinComputeNameLength || name.size() > kMaxComputeNameLength ||
      !std::isalpha(static_cast<unsigned char>(name.front())) || !valid_chars) {
    return InvalidField(field, absl::StrCat("a compute name is ", kMinComputeNameLength, " to ",
                                            kMaxComputeNameLength,
                                            " characters: a letter, then letters, digits and "
                                            "'-'; got '",
                                            View(name.substr(0, 64)), "'"));
  }
  return absl::OkStatus();
}

absl::Status ReadCompute(const ObjectView& top, std::string* out) {
  std::string compute;
  RETURN_IF_ERROR(top.ReadString("compute", &compute));
  if (compute.empty()) return absl::OkStatus();
  if (compute.rfind("azureml:", 0) == 0) compute.erase(0, std::string_view("azureml:").size());
  RETURN_IF_ERROR(ValidateComputeName("compute", compute));
  *out = std::move(compute);
  return absl::OkStatus();
}

// A batch worker runs a scoring script or an MLflow model, never a serving program.
absl::Status CheckBatchEnvironment(const EnvironmentSpec& environment) {
  if (!environment.command.empty()) {
    return InvalidField("environment.command",
                        "not for batch deployments: their workers run the scoring script (or the "
                        "MLflow model), not a serving program");
  }
  if (environment.inference_config.has_value()) {
    return InvalidField("environment.inference_config",
                        "not for batch deployments: their workers serve no HTTP routes");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Data paths.

enum class PathKind { kLocal, kDatastore, kDataAsset };

// What a data path names. URLs and other azureml forms are INVALID_ARGUMENT on `field`.
absl::StatusOr<PathKind> ClassifyDataPath(const std::string& text, std::string_view field) {
  if (IsDatastoreUri(text)) return PathKind::kDatastore;
  if (text.rfind("azureml://", 0) == 0) {
    return InvalidField(field, absl::StrCat("expected a datastore path ", View(kDatastoreForm),
                                            ", got '", text, "'"));
  }
  if (text.rfind("azureml:", 0) == 0) return PathKind::kDataAsset;
  if (text.find("://") != std::string::npos) {
    return InvalidField(
        field, absl::StrCat("URLs are not supported ('", text, "'): give a datastore path ",
                            View(kDatastoreForm), ", a data asset or a local path"));
  }
  return PathKind::kLocal;
}

// The uploaded artifact of a uri_file is a file, that of a uri_folder a folder.
absl::Status CheckArtifactKind(DataType type, const std::optional<ArtifactRef>& artifact,
                               std::string_view type_field) {
  if (!artifact.has_value() || artifact->is_file == (type == DataType::kUriFile)) {
    return absl::OkStatus();
  }
  return InvalidField(type_field,
                      absl::StrCat("'", DataTypeName(type), "' does not match the uploaded ",
                                   artifact->is_file ? "file" : "folder", " '", artifact->base_name,
                                   "'; use ", artifact->is_file ? "uri_file" : "uri_folder"));
}

// `type` of a data asset or a job input (uri_folder when absent).
absl::Status ReadDataType(const ObjectView& view, DataType* out) {
  if (!view.Has("type")) return absl::OkStatus();
  const json& value = view.Get("type");
  if (value.is_string() && Folded(value.get_ref<const std::string&>()) == "mltable") {
    return InvalidField(view.PathOf("type"),
                        "only uri_file and uri_folder are supported for batch; mltable is not");
  }
  return ReadEnum(view, "type", kDataTypes, out);
}

// `value` at `field`, a datastore path, as its normalised URI.
absl::StatusOr<std::string> NormalisedDatastoreUri(const std::string& text,
                                                   std::string_view field) {
  ASSIGN_OR_RETURN(DatastorePath path, ParseDatastorePath(text, field));
  return DatastoreUri(path);
}

// ---------------------------------------------------------------------------------------------
// Job requests.

absl::Status ReadJobName(const ObjectView& view, const std::string& key, std::string* out) {
  RETURN_IF_ERROR(view.ReadString(key, out));
  if (out->empty()) return absl::OkStatus();
  return ValidateAssetName(view.PathOf(key), *out);
}

// berth's shape (docs/batch.md, "Job request").
absl::Status ReadBerthJobRequest(const json& body, JobRequest* request) {
  ASSIGN_OR_RETURN(ObjectView top,
                   ObjectView::Open(body, "",
                                    {"name", "deployment", "input", "output_path", "settings",
                                     "priority", "experiment_name", "description", "tags"}));
  RETURN_IF_ERROR(ReadJobName(top, "name", &request->name));
  RETURN_IF_ERROR(top.ReadString("deployment", &request->deployment));
  if (!request->deployment.empty()) {
    RETURN_IF_ERROR(ValidateName("deployment", request->deployment, "deployment"));
  }

  RETURN_IF_ERROR(Required(top, "input", "a job needs an input: {type, path}"));
  ASSIGN_OR_RETURN(auto input, top.ReadObject("input", {"type", "path", "artifact"}));
  JobInput& job_input = request->input;
  RETURN_IF_ERROR(ReadDataType(*input, &job_input.type));
  RETURN_IF_ERROR(Required(*input, "path",
                           "required: a data asset (azureml:<name>:<version>), a datastore path "
                           "or a local path that the berth CLI uploads"));
  RETURN_IF_ERROR(input->ReadNonEmptyString("path", &job_input.path));
  ASSIGN_OR_RETURN(job_input.artifact, internal::ReadArtifact(*input));
  const std::string path_field = input->PathOf("path");
  ASSIGN_OR_RETURN(PathKind kind, ClassifyDataPath(job_input.path, path_field));
  if (kind == PathKind::kLocal && !job_input.artifact.has_value()) {
    return InvalidField(input->PathOf("artifact"),
                        absl::StrCat("local input '", job_input.path,
                                     "' must be uploaded first (berth batch-endpoint invoke "
                                     "uploads it)"));
  }
  if (kind != PathKind::kLocal && job_input.artifact.has_value()) {
    return InvalidField(input->PathOf("artifact"),
                        "only a local input path comes with an uploaded artifact");
  }
  if (kind == PathKind::kDatastore) {
    ASSIGN_OR_RETURN(job_input.path, NormalisedDatastoreUri(job_input.path, path_field));
  } else if (kind == PathKind::kDataAsset) {
    RETURN_IF_ERROR(ParseDataReference(job_input.path, path_field).status());
  }
  RETURN_IF_ERROR(CheckArtifactKind(job_input.type, job_input.artifact, input->PathOf("type")));

  RETURN_IF_ERROR(top.ReadString("output_path", &request->output_path));
  if (!request->output_path.empty()) {
    ASSIGN_OR_RETURN(request->output_path,
                     NormalisedDatastoreUri(request->output_path, "output_path"));
  }
  ASSIGN_OR_RETURN(auto settings,
                   top.ReadObject("settings", {"mini_batch_size", "instance_count",
                                               "max_concurrency_per_instance", "retry_settings",
                                               "error_threshold", "output_file_name",
                                               "logging_level", "environment_variables"}));
  if (settings.has_value()) {
    RETURN_IF_ERROR(ReadSettingOverrides(*settings, kYamlNames, &request->overrides));
    RETURN_IF_ERROR(ReadOptionalInt(*settings, "instance_count", 1, kMaxInstanceCount,
                                    &request->overrides.instance_count));
  }
  if (top.Has("priority")) {
    std::string priority;
    RETURN_IF_ERROR(top.ReadChoice("priority", {"normal", "low"}, &priority));
    request->priority = priority == "low" ? JobPriority::kLow : JobPriority::kNormal;
  }
  RETURN_IF_ERROR(ReadJobName(top, "experiment_name", &request->experiment_name));
  RETURN_IF_ERROR(top.ReadString("description", &request->description));
  return top.ReadStringMap("tags", &request->tags);
}

// Azure's body comes PascalCase (its docs) or camelCase (its SDK): its keys are read camelCased,
// all but the user's own names inside `tags` and `environmentVariables`.
absl::StatusOr<json> CamelCaseKeys(const json& value, const std::string& path) {
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [key, item] : value.items()) {
    std::string camel = key;
    if (!camel.empty())
      camel[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(camel[0])));
    const std::string item_path = internal::JoinPath(path, camel);
    if (out.contains(camel))
      return InvalidField(item_path, "given twice (PascalCase and camelCase)");
    if (camel == "tags" || camel == "environmentVariables") {
      out[camel] = item;
    } else {
      ASSIGN_OR_RETURN(out[camel], CamelCaseKeys(item, item_path));
    }
  }
  return out;
}

// The one entry of `inputData` / `outputData`; `what` says which for messages.
absl::StatusOr<std::pair<std::string, const json*>> SoleEntry(const ObjectView& view,
                                                              const std::string& key,
                                                              std::string_view what) {
  const json& entries = view.Get(key);
  if (!entries.is_object())
    return TypeError(view.PathOf(key), "an object of named entries", entries);
  if (entries.size() != 1) {
    return InvalidField(view.PathOf(key), absl::StrCat("model deployments take exactly one ",
                                                       View(what), ", got ", entries.size()));
  }
  return std::make_pair(entries.begin().key(), &entries.begin().value());
}

absl::Status ReadAzureInput(const ObjectView& properties, JobInput* out) {
  RETURN_IF_ERROR(Required(properties, "inputData", "a job needs exactly one input"));
  ASSIGN_OR_RETURN(auto entry, SoleEntry(properties, "inputData", "input"));
  ASSIGN_OR_RETURN(ObjectView input,
                   ObjectView::Open(*entry.second,
                                    internal::JoinPath(properties.PathOf("inputData"), entry.first),
                                    {"jobInputType", "uri", "mode", "description", "value"}));
  RETURN_IF_ERROR(Required(input, "jobInputType", "required: UriFolder or UriFile"));
  const json& type = input.Get("jobInputType");
  std::optional<DataType> data_type;
  if (type.is_string()) data_type = FindFolded(kDataTypes, type.get_ref<const std::string&>());
  if (!data_type.has_value()) {
    return InvalidField(input.PathOf("jobInputType"),
                        absl::StrCat("Only UriFileJobInput and UriFolderJobInput are supported "
                                     "for model deployments; got ",
                                     internal::DescribeValue(type)));
  }
  out->type = *data_type;
  if (input.Has("value")) {
    return InvalidField(input.PathOf("value"), "only Literal inputs have a value");
  }
  std::string unused;
  RETURN_IF_ERROR(input.ReadString("mode", &unused));  // berth mounts inputs read-only
  RETURN_IF_ERROR(input.ReadString("description", &unused));
  RETURN_IF_ERROR(Required(input, "uri", "required: the data to score"));
  RETURN_IF_ERROR(input.ReadNonEmptyString("uri", &out->path));
  ASSIGN_OR_RETURN(PathKind kind, ClassifyDataPath(out->path, input.PathOf("uri")));
  switch (kind) {
    case PathKind::kDatastore: {
      ASSIGN_OR_RETURN(out->path, NormalisedDatastoreUri(out->path, input.PathOf("uri")));
      return absl::OkStatus();
    }
    case PathKind::kDataAsset:
      return ParseDataReference(out->path, input.PathOf("uri")).status();
    case PathKind::kLocal:
      break;
  }
  return InvalidField(input.PathOf("uri"),
                      absl::StrCat("expected a data asset (azureml:<name>:<version> or "
                                   "azureml:<name>@latest) or a datastore path ",
                                   View(kDatastoreForm),
                                   "; local paths are uploaded first (berth batch-endpoint "
                                   "invoke does it)"));
}

absl::Status ReadAzureOutput(const ObjectView& properties, std::string* output_path) {
  if (properties.Has("outputData")) {
    ASSIGN_OR_RETURN(auto entry, SoleEntry(properties, "outputData", "output"));
    ASSIGN_OR_RETURN(
        ObjectView output,
        ObjectView::Open(*entry.second,
                         internal::JoinPath(properties.PathOf("outputData"), entry.first),
                         {"jobOutputType", "uri", "mode", "description"}));
    DataType unused_type;
    RETURN_IF_ERROR(ReadEnum(output, "jobOutputType", kDataTypes, &unused_type));
    std::string uri;
    RETURN_IF_ERROR(output.ReadString("uri", &uri));
    if (!uri.empty()) {
      ASSIGN_OR_RETURN(*output_path, NormalisedDatastoreUri(uri, output.PathOf("uri")));
    }
  }
  ASSIGN_OR_RETURN(auto dataset, properties.ReadObject("outputDataset", {"datastoreId", "path"}));
  if (!dataset.has_value()) return absl::OkStatus();
  if (!output_path->empty()) {
    return InvalidField(dataset->path(),
                        "give the output in outputData or outputDataset, not both");
  }
  RETURN_IF_ERROR(Required(*dataset, "datastoreId", "required: the datastore to write to"));
  std::string datastore, path;
  RETURN_IF_ERROR(dataset->ReadNonEmptyString("datastoreId", &datastore));
  RETURN_IF_ERROR(dataset->ReadString("path", &path));
  // An ARM id (".../datastores/<name>"), `azureml:<name>` or the bare name.
  datastore = datastore.substr(datastore.find_last_of("/:") + 1);
  ASSIGN_OR_RETURN(*output_path, NormalisedDatastoreUri(absl::StrCat(View(kDatastorePrefix),
                                                                     datastore, "/paths/", path),
                                                        dataset->path()));
  return absl::OkStatus();
}

// Azure's data-plane body: {"properties": {"InputData": ..., ...}}.
absl::Status ReadAzureJobRequest(const json& raw_body, JobRequest* request) {
  ASSIGN_OR_RETURN(json body, CamelCaseKeys(raw_body, ""));
  ASSIGN_OR_RETURN(ObjectView top,
                   ObjectView::Open(body, "", {"properties", "name"}, {"id", "type"}));
  RETURN_IF_ERROR(ReadJobName(top, "name", &request->name));
  RETURN_IF_ERROR(Required(top, "properties", "required: the job's properties"));
  ASSIGN_OR_RETURN(
      auto properties,
      top.ReadObject(
          "properties",
          {"inputData", "outputData", "outputDataset", "miniBatchSize", "compute", "errorThreshold",
           "retrySettings", "outputFileName", "loggingLevel", "maxConcurrencyPerInstance",
           "environmentVariables", "description", "tags", "properties", "partitionKeys"}));
  RETURN_IF_ERROR(ReadAzureInput(*properties, &request->input));
  RETURN_IF_ERROR(ReadAzureOutput(*properties, &request->output_path));
  RETURN_IF_ERROR(ReadSettingOverrides(*properties, kRestNames, &request->overrides));
  ASSIGN_OR_RETURN(auto compute, properties->ReadObject("compute", {"instanceCount"},
                                                        {"target", "instanceType", "isLocal",
                                                         "location", "properties"}));
  if (compute.has_value()) {
    RETURN_IF_ERROR(ReadOptionalInt(*compute, "instanceCount", 1, kMaxInstanceCount,
                                    &request->overrides.instance_count));
  }
  if (properties->Has("partitionKeys")) {
    const json& keys = properties->Get("partitionKeys");
    if (!keys.is_array() || !keys.empty()) {
      return InvalidField(properties->PathOf("partitionKeys"),
                          "partition keys are not supported (they apply to tabular inputs)");
    }
  }
  RETURN_IF_ERROR(properties->ReadString("description", &request->description));
  RETURN_IF_ERROR(properties->ReadStringMap("tags", &request->tags));
  std::map<std::string, std::string> job_properties;
  RETURN_IF_ERROR(properties->ReadStringMap("properties", &job_properties));
  if (job_properties.contains("experimentName")) {
    request->experiment_name = job_properties["experimentName"];
    if (!request->experiment_name.empty()) {
      RETURN_IF_ERROR(
          ValidateAssetName("properties.properties.experimentName", request->experiment_name));
    }
  }
  return absl::OkStatus();
}

json OverridesJson(const JobOverrides& overrides) {
  json doc = {{"environment_variables", json(overrides.environment_variables)}};
  const auto put = [&doc](const char* key, const auto& value) {
    if (value.has_value()) doc[key] = *value;
  };
  put("mini_batch_size", overrides.mini_batch_size);
  put("instance_count", overrides.instance_count);
  put("max_concurrency_per_instance", overrides.max_concurrency_per_instance);
  put("error_threshold", overrides.error_threshold);
  put("output_file_name", overrides.output_file_name);
  put("logging_level", overrides.logging_level);
  json retry = json::object();
  if (overrides.max_retries.has_value()) retry["max_retries"] = *overrides.max_retries;
  if (overrides.timeout_s.has_value()) retry["timeout"] = *overrides.timeout_s;
  if (!retry.empty()) doc["retry_settings"] = std::move(retry);
  return doc;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Batch endpoints.

absl::StatusOr<Parsed<BatchEndpointSpec>> ParseBatchEndpointSpec(const json& doc) {
  if (!doc.is_object()) return TypeError("", "a batch endpoint document (an object)", doc);
  ASSIGN_OR_RETURN(
      ObjectView top,
      ObjectView::Open(doc, "", {"name", "description", "tags", "auth_mode", "defaults"},
                       kReadOnlyFields));
  Parsed<BatchEndpointSpec> out;
  BatchEndpointSpec& spec = out.spec;
  RETURN_IF_ERROR(Required(top, "name", "a batch endpoint needs a name"));
  RETURN_IF_ERROR(top.ReadString("name", &spec.name));
  RETURN_IF_ERROR(ValidateName("endpoint", spec.name, "name"));
  RETURN_IF_ERROR(top.ReadString("description", &spec.description));
  RETURN_IF_ERROR(top.ReadStringMap("tags", &spec.tags));
  if (top.Has("auth_mode")) {
    const json& mode = top.Get("auth_mode");
    if (!mode.is_string() || Folded(mode.get_ref<const std::string&>()) != "aadtoken") {
      return InvalidField("auth_mode",
                          absl::StrCat("Azure's only value for batch endpoints is aad_token; got ",
                                       internal::DescribeValue(mode)));
    }
  }
  ASSIGN_OR_RETURN(auto defaults, top.ReadObject("defaults", {"deployment_name"}));
  if (defaults.has_value()) {
    RETURN_IF_ERROR(defaults->ReadString("deployment_name", &spec.default_deployment));
    if (!spec.default_deployment.empty()) {
      RETURN_IF_ERROR(
          ValidateName("deployment", spec.default_deployment, "defaults.deployment_name"));
    }
  }
  return out;
}

json ToJson(const BatchEndpointSpec& spec) {
  return json{{"name", spec.name},
              {"description", spec.description},
              {"tags", json(spec.tags)},
              {"auth_mode", spec.auth_mode},
              {"defaults", {{"deployment_name", spec.default_deployment}}}};
}

// ---------------------------------------------------------------------------------------------
// Batch deployments.

const char* OutputActionName(OutputAction action) { return NameOf(kOutputActions, action); }

absl::StatusOr<Parsed<BatchDeploymentSpec>> ParseBatchDeploymentSpec(
    const json& doc, const DeploymentParseOptions& options) {
  if (!doc.is_object()) return TypeError("", "a batch deployment document (an object)", doc);
  ASSIGN_OR_RETURN(Layout layout, DeploymentLayout(doc));
  std::vector<std::string> known = {
      "name",    "endpoint_name", "description",        "tags",
      "type",    "model",         "code_configuration", "environment",
      "compute", "resources",     "settings",           "instance_count"};
  known.insert(known.end(), kSettingKeys.begin(), kSettingKeys.end());
  ASSIGN_OR_RETURN(ObjectView top, ObjectView::Open(doc, "", known, kReadOnlyFields));
  Parsed<BatchDeploymentSpec> out;
  BatchDeploymentSpec& spec = out.spec;
  const internal::ReadContext context{options, &out.warnings};

  RETURN_IF_ERROR(Required(top, "name", "a batch deployment needs a name"));
  RETURN_IF_ERROR(top.ReadString("name", &spec.name));
  RETURN_IF_ERROR(ValidateName("deployment", spec.name, "name"));
  RETURN_IF_ERROR(
      Required(top, "endpoint_name", "a batch deployment needs the name of its endpoint"));
  RETURN_IF_ERROR(top.ReadString("endpoint_name", &spec.endpoint_name));
  RETURN_IF_ERROR(ValidateName("endpoint", spec.endpoint_name, "endpoint_name"));
  RETURN_IF_ERROR(top.ReadString("description", &spec.description));
  RETURN_IF_ERROR(top.ReadStringMap("tags", &spec.tags));
  RETURN_IF_ERROR(internal::ReadModel(
      context, top, absl::StrCat(spec.endpoint_name, "-", spec.name), &spec.model));
  if (!spec.model.has_value()) {
    return InvalidField("model",
                        "a batch deployment needs a model: a reference "
                        "'azureml:<name>:<version>' or an inline model with a path");
  }
  RETURN_IF_ERROR(internal::ReadCodeConfiguration(context, top, &spec.code_configuration));
  RETURN_IF_ERROR(internal::ReadEnvironment(context, top, &spec.environment));
  RETURN_IF_ERROR(CheckBatchEnvironment(spec.environment));
  RETURN_IF_ERROR(ReadCompute(top, &spec.compute));
  ASSIGN_OR_RETURN(auto resources, top.ReadObject("resources", {"instance_count"}));
  if (resources.has_value()) {
    RETURN_IF_ERROR(
        resources->ReadInt("instance_count", 1, kMaxInstanceCount, &spec.instance_count));
  }
  if (layout == Layout::kLegacy) {
    RETURN_IF_ERROR(top.ReadInt("instance_count", 1, kMaxInstanceCount, &spec.instance_count));
    RETURN_IF_ERROR(ReadBatchSettings(top, /*refuse_file_name_with_summary=*/true, &spec.settings));
  } else {
    ASSIGN_OR_RETURN(auto settings, top.ReadObject("settings", kSettingKeys));
    if (settings.has_value()) {
      RETURN_IF_ERROR(
          ReadBatchSettings(*settings, /*refuse_file_name_with_summary=*/true, &spec.settings));
    }
  }
  return out;
}

json ToJson(const BatchDeploymentSpec& spec) {
  json doc = {{"name", spec.name},
              {"endpoint_name", spec.endpoint_name},
              {"type", "model"},
              {"description", spec.description},
              {"tags", json(spec.tags)},
              {"environment", internal::EnvironmentJson(spec.environment)},
              {"compute", spec.compute.empty() ? "" : absl::StrCat("azureml:", spec.compute)},
              {"resources", {{"instance_count", spec.instance_count}}},
              {"settings", SettingsJson(spec.settings, /*file_name_with_summary=*/false)}};
  if (spec.model.has_value()) doc["model"] = internal::ModelJson(*spec.model);
  if (spec.code_configuration.has_value()) {
    doc["code_configuration"] = internal::CodeConfigurationJson(*spec.code_configuration);
  }
  return doc;
}

absl::StatusOr<json> NormalizeBatchDeploymentDocument(const json& doc) {
  if (!doc.is_object()) return TypeError("", "a batch deployment document (an object)", doc);
  ASSIGN_OR_RETURN(Layout layout, DeploymentLayout(doc));
  json out = doc;
  out["type"] = "model";
  if (layout == Layout::kCurrent) return out;
  // Legacy: DeploymentLayout saw no `settings` block, and instance_count in one place at most.
  if (out.contains("resources") && !out["resources"].is_null() && !out["resources"].is_object()) {
    return TypeError("resources", "an object", out["resources"]);
  }
  json settings = json::object();
  for (const std::string& key : kSettingKeys) {
    if (!out.contains(key)) continue;
    settings[key] = out[key];
    out.erase(key);
  }
  if (!settings.empty()) out["settings"] = std::move(settings);
  if (out.contains("instance_count")) {
    out["resources"]["instance_count"] = out["instance_count"];
    out.erase("instance_count");
  }
  return out;
}

DeploymentSpec WorkerDeploymentSpec(const BatchDeploymentSpec& spec) {
  DeploymentSpec worker;
  worker.name = spec.name;
  worker.endpoint_name = spec.endpoint_name;
  worker.model = spec.model;
  worker.code_configuration = spec.code_configuration;
  worker.environment = spec.environment;
  worker.environment_variables = spec.settings.environment_variables;
  worker.instance_count = 1;
  return worker;
}

// ---------------------------------------------------------------------------------------------
// Compute clusters.

const char* ComputeTierName(ComputeTier tier) { return NameOf(kComputeTiers, tier); }

absl::StatusOr<Parsed<ComputeSpec>> ParseComputeSpec(const json& doc) {
  if (!doc.is_object()) return TypeError("", "a compute document (an object)", doc);
  ASSIGN_OR_RETURN(
      ObjectView top,
      ObjectView::Open(doc, "",
                       {"name", "type", "description", "tags", "size", "min_instances",
                        "max_instances", "idle_time_before_scale_down", "tier", "location"},
                       kReadOnlyFields));
  Parsed<ComputeSpec> out;
  ComputeSpec& spec = out.spec;
  RETURN_IF_ERROR(Required(top, "name", "a compute cluster needs a name"));
  RETURN_IF_ERROR(top.ReadString("name", &spec.name));
  RETURN_IF_ERROR(ValidateComputeName("name", spec.name));
  if (top.Has("type")) {
    const json& type = top.Get("type");
    if (!type.is_string() || AsciiLower(type.get_ref<const std::string&>()) != "amlcompute") {
      return InvalidField("type", absl::StrCat("berth runs only amlcompute clusters (as worker "
                                               "processes on this machine); ",
                                               internal::DescribeValue(type), " is not supported"));
    }
  }
  RETURN_IF_ERROR(top.ReadString("description", &spec.description));
  RETURN_IF_ERROR(top.ReadStringMap("tags", &spec.tags));
  RETURN_IF_ERROR(top.ReadString("size", &spec.size));
  RETURN_IF_ERROR(top.ReadString("location", &spec.location));
  RETURN_IF_ERROR(top.ReadInt("min_instances", 0, kIntMax, &spec.min_instances));
  RETURN_IF_ERROR(top.ReadInt("max_instances", 1, kIntMax, &spec.max_instances));
  if (spec.max_instances < spec.min_instances) {
    return InvalidField("max_instances",
                        absl::StrCat("must be at least min_instances (", spec.min_instances,
                                     "), got ", spec.max_instances));
  }
  RETURN_IF_ERROR(
      top.ReadInt("idle_time_before_scale_down", 0, kIntMax, &spec.idle_time_before_scale_down));
  RETURN_IF_ERROR(ReadEnum(top, "tier", kComputeTiers, &spec.tier));
  return out;
}

json ToJson(const ComputeSpec& spec) {
  return json{{"name", spec.name},
              {"type", spec.type},
              {"description", spec.description},
              {"tags", json(spec.tags)},
              {"size", spec.size},
              {"min_instances", spec.min_instances},
              {"max_instances", spec.max_instances},
              {"idle_time_before_scale_down", spec.idle_time_before_scale_down},
              {"tier", ComputeTierName(spec.tier)},
              {"location", spec.location}};
}

// ---------------------------------------------------------------------------------------------
// Data assets.

const char* DataTypeName(DataType type) { return NameOf(kDataTypes, type); }

std::optional<DataType> ParseDataType(const std::string& text) {
  return FindFolded(kDataTypes, text);
}

absl::StatusOr<DataAsset> ParseDataAsset(const json& doc, const DataParseOptions& options) {
  if (!doc.is_object()) return TypeError("", "a data asset document (an object)", doc);
  ASSIGN_OR_RETURN(ObjectView top, ObjectView::Open(doc, "",
                                                    {"name", "version", "type", "description",
                                                     "tags", "path", "artifact", "archived"},
                                                    kReadOnlyFields));
  DataAsset asset;
  RETURN_IF_ERROR(Required(top, "name", "a data asset needs a name"));
  RETURN_IF_ERROR(top.ReadString("name", &asset.name));
  RETURN_IF_ERROR(ValidateAssetName("name", asset.name));
  RETURN_IF_ERROR(internal::ReadAssetVersion(top, &asset.version));
  RETURN_IF_ERROR(ReadDataType(top, &asset.type));
  RETURN_IF_ERROR(top.ReadString("description", &asset.description));
  RETURN_IF_ERROR(top.ReadStringMap("tags", &asset.tags));
  RETURN_IF_ERROR(top.ReadBool("archived", &asset.archived));
  RETURN_IF_ERROR(Required(top, "path",
                           absl::StrCat("a data asset needs a path: a local folder or file (the "
                                        "berth CLI uploads it) or ",
                                        View(kDatastoreForm))));
  RETURN_IF_ERROR(top.ReadNonEmptyString("path", &asset.path));
  ASSIGN_OR_RETURN(asset.artifact, internal::ReadArtifact(top));
  ASSIGN_OR_RETURN(PathKind kind, ClassifyDataPath(asset.path, "path"));
  switch (kind) {
    case PathKind::kDataAsset:
      return InvalidField("path", absl::StrCat("a data asset's path is a local path or ",
                                               View(kDatastoreForm), ", not another asset"));
    case PathKind::kDatastore: {
      if (asset.artifact.has_value()) {
        return InvalidField("artifact", "a datastore path comes without an uploaded artifact");
      }
      ASSIGN_OR_RETURN(DatastorePath path, ParseDatastorePath(asset.path, "path"));
      if (asset.type == DataType::kUriFile && path.path.empty()) {
        return InvalidField("path", "a uri_file asset names a file, not the datastore's root");
      }
      break;
    }
    case PathKind::kLocal:
      RETURN_IF_ERROR(
          internal::CheckUploaded(options.allow_local_paths, "path", asset.path, asset.artifact));
      break;
  }
  RETURN_IF_ERROR(CheckArtifactKind(asset.type, asset.artifact, "type"));
  return asset;
}

json ToJson(const DataAsset& asset) {
  json doc = {{"name", asset.name},
              {"type", DataTypeName(asset.type)},
              {"description", asset.description},
              {"tags", json(asset.tags)},
              {"path", asset.path},
              {"archived", asset.archived}};
  if (!asset.version.empty()) doc["version"] = asset.version;
  if (asset.artifact.has_value()) doc["artifact"] = internal::ArtifactJson(*asset.artifact);
  return doc;
}

absl::StatusOr<AssetReference> ParseDataReference(const std::string& text, std::string_view field) {
  std::optional<AssetReference> reference = internal::MatchAssetReference(text, "");
  if (!reference.has_value()) {
    return InvalidField(field, absl::StrCat("expected a data asset reference "
                                            "'azureml:<name>:<version>' or "
                                            "'azureml:<name>@latest', got '",
                                            text, "'"));
  }
  RETURN_IF_ERROR(ValidateAssetName(field, reference->name));
  if (!reference->version.empty()) {
    RETURN_IF_ERROR(ValidateAssetName(field, reference->version));
    if (AsciiLower(reference->version) == "latest") {
      return InvalidField(
          field, absl::StrCat("'latest' is a label: write 'azureml:", reference->name, "@latest'"));
    }
  }
  return *std::move(reference);
}

// ---------------------------------------------------------------------------------------------
// Datastore paths.

bool IsDatastoreUri(std::string_view text) { return text.starts_with(kDatastorePrefix); }

absl::StatusOr<DatastorePath> ParseDatastorePath(std::string_view text, std::string_view field) {
  const auto malformed = [&] {
    return InvalidField(field, absl::StrCat("expected a datastore path ", View(kDatastoreForm),
                                            ", got '", View(text.substr(0, 200)), "'"));
  };
  if (!IsDatastoreUri(text)) return malformed();
  std::string_view rest = text.substr(kDatastorePrefix.size());
  const size_t slash = rest.find('/');
  std::string_view store = rest.substr(0, slash);
  std::string_view after = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (after != "/paths" && !after.starts_with("/paths/")) return malformed();
  const bool valid_store = !store.empty() && store.size() <= kMaxDatastoreNameLength &&
                           std::all_of(store.begin(), store.end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                           });
  if (!valid_store) {
    return InvalidField(field, absl::StrCat("a datastore name has only lowercase letters, digits "
                                            "and underscores (Azure's rule), got '",
                                            View(store.substr(0, 64)), "'"));
  }
  std::vector<std::string> segments;
  for (absl::string_view segment : absl::StrSplit(View(after.substr(6)), '/', absl::SkipEmpty())) {
    if (segment == ".") continue;
    if (segment == "..") {
      return InvalidField(field, absl::StrCat("'..' climbs out of the datastore: '",
                                              View(text.substr(0, 200)), "'"));
    }
    if (segment.find('\0') != absl::string_view::npos) {
      return InvalidField(field, "the path contains a NUL byte");
    }
    segments.emplace_back(segment);
  }
  return DatastorePath{std::string(store), absl::StrJoin(segments, "/")};
}

std::string DatastoreUri(const DatastorePath& path) {
  return absl::StrCat(View(kDatastorePrefix), path.datastore, "/paths/", path.path);
}

// ---------------------------------------------------------------------------------------------
// Job requests.

const char* JobPriorityName(JobPriority priority) {
  return priority == JobPriority::kLow ? "low" : "normal";
}

absl::StatusOr<JobRequest> ParseJobRequest(const json& body, const std::string& deployment_header) {
  if (!body.is_object()) return TypeError("", "a job request (an object)", body);
  JobRequest request;
  bool azure = false;  // Azure's body is {"properties": ...}, in either case
  for (const auto& item : body.items()) azure = azure || Folded(item.key()) == "properties";
  if (azure) {
    RETURN_IF_ERROR(ReadAzureJobRequest(body, &request));
  } else {
    RETURN_IF_ERROR(ReadBerthJobRequest(body, &request));
  }
  if (!deployment_header.empty()) {
    RETURN_IF_ERROR(ValidateName("deployment", deployment_header, "azureml-model-deployment"));
    request.deployment = deployment_header;
  }
  return request;
}

json ToJson(const JobRequest& request) {
  json input = {{"type", DataTypeName(request.input.type)}, {"path", request.input.path}};
  if (request.input.artifact.has_value()) {
    input["artifact"] = internal::ArtifactJson(*request.input.artifact);
  }
  json doc = {{"name", request.name},
              {"deployment", request.deployment},
              {"input", std::move(input)},
              {"output_path", request.output_path},
              {"settings", OverridesJson(request.overrides)},
              {"experiment_name", request.experiment_name},
              {"description", request.description},
              {"tags", json(request.tags)}};
  if (request.priority.has_value()) doc["priority"] = JobPriorityName(*request.priority);
  return doc;
}

EffectiveJobSettings ApplyOverrides(const BatchDeploymentSpec& deployment,
                                    const JobOverrides& overrides) {
  EffectiveJobSettings effective{deployment.instance_count, deployment.settings};
  ApplyOverridesTo(overrides, &effective);
  return effective;
}

json ToJson(const EffectiveJobSettings& settings) {
  // A job's record keeps every value, the file name of a summary_only job included.
  json doc = SettingsJson(settings.settings, /*file_name_with_summary=*/true);
  doc["instance_count"] = settings.instance_count;
  return doc;
}

absl::StatusOr<EffectiveJobSettings> ParseEffectiveJobSettings(const json& doc) {
  std::vector<std::string> known = kSettingKeys;
  known.push_back("instance_count");
  ASSIGN_OR_RETURN(ObjectView top, ObjectView::Open(doc, "", known));
  EffectiveJobSettings settings;
  RETURN_IF_ERROR(top.ReadInt("instance_count", 1, kMaxInstanceCount, &settings.instance_count));
  RETURN_IF_ERROR(
      ReadBatchSettings(top, /*refuse_file_name_with_summary=*/false, &settings.settings));
  return settings;
}

const char* JobStatusName(JobStatus status) { return NameOf(kJobStatuses, status); }

std::optional<JobStatus> ParseJobStatus(const std::string& name) {
  for (const auto& [candidate, status] : kJobStatuses) {
    if (candidate == name) return status;
  }
  return std::nullopt;
}

bool IsTerminal(JobStatus status) {
  return status == JobStatus::kCompleted || status == JobStatus::kFailed ||
         status == JobStatus::kCanceled;
}

}  // namespace berth::core
