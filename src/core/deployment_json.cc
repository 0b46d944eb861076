// The deployment document <-> DeploymentSpec conversion, and which deployments berth can serve.

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/deployment_parts.h"
#include "core/json_fields.h"
#include "core/model_asset.h"
#include "core/spec_json.h"

namespace berth::core {
namespace {

using internal::kMaxInstanceCount;
using internal::ObjectView;
using internal::ReadContext;
using nlohmann::json;

constexpr int kIntMax = std::numeric_limits<int>::max();
constexpr int kMaxRequestTimeoutMs = 180000;
// Bounds that keep 20 x polling_interval and the autoscaler's window arithmetic small.
constexpr int kMaxPollingIntervalS = 3600;
constexpr int kMaxScaleDownDelayS = 86400;

const std::vector<std::string> kReadOnlyFields = {
    "provisioning_state", "scoring_uri", "openapi_uri", "id",       "reason", "live",
    "created_at",         "updated_at",  "warnings",    "instances"};

absl::Status ReadProbe(const ObjectView& top, const std::string& key, bool liveness,
                       ProbeSettings* out) {
  ASSIGN_OR_RETURN(auto view, top.ReadObject(key, {"initial_delay", "period", "timeout",
                                                   "success_threshold", "failure_threshold"}));
  if (!view.has_value()) return absl::OkStatus();
  RETURN_IF_ERROR(view->ReadInt("initial_delay", 0, kIntMax, &out->initial_delay_s));
  RETURN_IF_ERROR(view->ReadInt("period", 1, kIntMax, &out->period_s));
  RETURN_IF_ERROR(view->ReadInt("timeout", 1, kIntMax, &out->timeout_s));
  // Azure fixes the liveness success threshold at 1: one good answer proves the process lives.
  RETURN_IF_ERROR(
      view->ReadInt("success_threshold", 1, liveness ? 1 : kIntMax, &out->success_threshold));
  RETURN_IF_ERROR(view->ReadInt("failure_threshold", 1, kIntMax, &out->failure_threshold));
  return absl::OkStatus();
}

// `scale_settings` (Azure's Kubernetes fields, plus berth's `scale_down_delay`). With
// `type: default` the other keys are checked, then ignored as the Azure SDK drops them.
absl::Status ReadScaleSettings(const ReadContext& context, const ObjectView& top,
                               bool instance_count_given, DeploymentSpec* spec) {
  ASSIGN_OR_RETURN(auto view,
                   top.ReadObject("scale_settings", {"type", "min_instances", "max_instances",
                                                     "target_utilization_percentage",
                                                     "polling_interval", "scale_down_delay"}));
  if (!view.has_value()) return absl::OkStatus();
  std::string type = "default";
  RETURN_IF_ERROR(view->ReadChoice("type", {"default", "target_utilization"}, &type));
  ScaleSettings settings;
  RETURN_IF_ERROR(view->ReadInt("min_instances", 0, kMaxInstanceCount, &settings.min_instances));
  RETURN_IF_ERROR(view->ReadInt("max_instances", 1, kMaxInstanceCount, &settings.max_instances));
  RETURN_IF_ERROR(view->ReadInt("target_utilization_percentage", 1, 100,
                                &settings.target_utilization_percentage));
  RETURN_IF_ERROR(
      view->ReadInt("polling_interval", 1, kMaxPollingIntervalS, &settings.polling_interval_s));
  RETURN_IF_ERROR(
      view->ReadInt("scale_down_delay", 0, kMaxScaleDownDelayS, &settings.scale_down_delay_s));
  if (type == "default") {
    std::vector<std::string> ignored;
    for (const char* key : {"min_instances", "max_instances", "target_utilization_percentage",
                            "polling_interval", "scale_down_delay"}) {
      if (view->Has(key)) ignored.push_back(key);
    }
    if (!ignored.empty()) {
      context.Warn("scale_settings",
                   absl::StrCat(absl::StrJoin(ignored, ", "),
                                " ignored with type default (instance_count sets the size); "
                                "use type target_utilization to autoscale"));
    }
    return absl::OkStatus();
  }
  if (settings.min_instances > settings.max_instances) {
    return InvalidField(
        view->PathOf("max_instances"),
        absl::StrCat("max_instances (", settings.max_instances,
                     ") must be at least min_instances (", settings.min_instances, ")"));
  }
  settings.type = ScaleType::kTargetUtilization;
  spec->scale_settings = settings;
  const int given_count = spec->instance_count;
  spec->instance_count = InitialInstances(*spec);
  if (instance_count_given && given_count != spec->instance_count) {
    context.Warn("instance_count",
                 absl::StrCat("not used with scale_settings.type target_utilization: the "
                              "deployment starts with ",
                              spec->instance_count, " and scales between ", settings.min_instances,
                              " and ", settings.max_instances, " instances"));
  }
  return absl::OkStatus();
}

// A Kubernetes quantity ("512Mi", "1G", "0.5Gi", "128974848") as bytes.
absl::StatusOr<uint64_t> ParseMemoryQuantity(const std::string& text, const std::string& path) {
  static const std::vector<std::pair<std::string, double>> kSuffixes = {
      {"Ki", 1024.0},
      {"Mi", 1024.0 * 1024},
      {"Gi", 1024.0 * 1024 * 1024},
      {"Ti", 1024.0 * 1024 * 1024 * 1024},
      {"k", 1e3},
      {"K", 1e3},
      {"M", 1e6},
      {"G", 1e9},
      {"T", 1e12},
      {"", 1.0}};
  for (const auto& [suffix, factor] : kSuffixes) {
    if (text.size() <= suffix.size() || !text.ends_with(suffix)) continue;
    std::string number = text.substr(0, text.size() - suffix.size());
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    if (end == number.c_str() || *end != '\0' || !(value > 0) || value * factor > 1e18) break;
    return static_cast<uint64_t>(value * factor);
  }
  return InvalidField(path,
                      absl::StrCat("'", text, "' is not a memory quantity (e.g. 512Mi, 2Gi, 1G)"));
}

// A Kubernetes CPU quantity ("500m", "0.5", "2") in thousandths of a core.
absl::StatusOr<int> ParseCpuQuantity(const std::string& text, const std::string& path) {
  bool millis = !text.empty() && text.back() == 'm';
  std::string number = millis ? text.substr(0, text.size() - 1) : text;
  char* end = nullptr;
  double value = std::strtod(number.c_str(), &end);
  double result = millis ? value : value * 1000;
  if (number.empty() || end == number.c_str() || *end != '\0' || !(result >= 1) || result > 1e6) {
    return InvalidField(path,
                        absl::StrCat("'", text, "' is not a CPU quantity (e.g. 500m, 0.5, 2)"));
  }
  return static_cast<int>(result);
}

// `resources: {requests: {...}, limits: {cpu, memory}}`: limits are enforced per instance
// (docs/yaml.md, "Resource limits"); requests only reserve capacity on Kubernetes, so they are
// checked and otherwise ignored.
absl::Status ReadResources(const ObjectView& top, ResourceLimits* out) {
  ASSIGN_OR_RETURN(auto view, top.ReadObject("resources", {"requests", "limits"}));
  if (!view.has_value()) return absl::OkStatus();
  for (const char* part : {"requests", "limits"}) {
    ASSIGN_OR_RETURN(auto quantities,
                     view->ReadObject(part, {"cpu", "memory"}, {"nvidia.com/gpu"}));
    if (!quantities.has_value()) continue;
    ResourceLimits parsed;
    if (quantities->Has("memory")) {
      ASSIGN_OR_RETURN(std::string text, internal::ScalarToString(quantities->Get("memory"),
                                                                  quantities->PathOf("memory")));
      ASSIGN_OR_RETURN(parsed.memory_bytes,
                       ParseMemoryQuantity(text, quantities->PathOf("memory")));
    }
    if (quantities->Has("cpu")) {
      ASSIGN_OR_RETURN(std::string text,
                       internal::ScalarToString(quantities->Get("cpu"), quantities->PathOf("cpu")));
      ASSIGN_OR_RETURN(parsed.cpu_millis, ParseCpuQuantity(text, quantities->PathOf("cpu")));
    }
    if (std::string(part) == "limits") *out = parsed;
  }
  return absl::OkStatus();
}

// Known fields berth accepts without honouring them.
absl::Status ReadUnhonouredFields(const ReadContext& context, const ObjectView& top,
                                  const DeploymentSpec& spec) {
  std::string text;
  RETURN_IF_ERROR(top.ReadChoice("type", {"managed", "kubernetes"}, &text));
  if (text == "kubernetes") {
    context.Warn("type", "ignored; berth runs kubernetes deployments as local processes too");
  }
  text.clear();
  RETURN_IF_ERROR(top.ReadString("model_mount_path", &text));
  if (!text.empty()) {
    context.Warn("model_mount_path", "ignored; instances find the model at $AZUREML_MODEL_DIR");
  }
  if (!spec.instance_type.empty()) {
    context.Warn("instance_type", absl::StrCat("ignored; berth runs instances as local processes "
                                               "on this machine, not on '",
                                               spec.instance_type, "' VMs"));
  }
  bool app_insights = false;
  RETURN_IF_ERROR(top.ReadBool("app_insights_enabled", &app_insights));
  if (app_insights) {
    context.Warn("app_insights_enabled",
                 "ignored; berth exports Prometheus metrics at /metrics instead");
  }
  if (top.Has("data_collector")) {
    context.Warn("data_collector", "ignored; berth does not collect request data yet");
  }
  if (top.Has("identity")) {
    context.Warn("identity", "ignored; instances run as the berthd user");
  }
  return absl::OkStatus();
}

json ProbeJson(const ProbeSettings& probe) {
  return json{{"initial_delay", probe.initial_delay_s},
              {"period", probe.period_s},
              {"timeout", probe.timeout_s},
              {"success_threshold", probe.success_threshold},
              {"failure_threshold", probe.failure_threshold}};
}

// With type default only the type: the other keys would be ignored (and warned about) when
// the echo is read back. With target_utilization every key; scale_down_delay as set, 0 meaning
// 20 x polling_interval, so that an update of polling_interval moves the default delay with it.
json ScaleSettingsJson(const ScaleSettings& scale) {
  if (scale.type == ScaleType::kDefault) return json{{"type", "default"}};
  return json{{"type", "target_utilization"},
              {"min_instances", scale.min_instances},
              {"max_instances", scale.max_instances},
              {"target_utilization_percentage", scale.target_utilization_percentage},
              {"polling_interval", scale.polling_interval_s},
              {"scale_down_delay", scale.scale_down_delay_s}};
}

}  // namespace

absl::StatusOr<AssetReference> ParseModelReference(const std::string& text) {
  return internal::ParseAssetReference(json(text), "model", "model");
}

absl::StatusOr<Parsed<DeploymentSpec>> ParseDeploymentSpec(const json& doc) {
  return ParseDeploymentSpec(doc, DeploymentParseOptions());
}

absl::StatusOr<Parsed<DeploymentSpec>> ParseDeploymentSpec(const json& doc,
                                                           const DeploymentParseOptions& options) {
  if (!doc.is_object()) return internal::TypeError("", "a deployment document (an object)", doc);
  std::vector<std::string> known = {"$schema",
                                    "name",
                                    "endpoint_name",
                                    "description",
                                    "tags",
                                    "type",
                                    "model",
                                    "model_mount_path",
                                    "code_configuration",
                                    "environment",
                                    "environment_variables",
                                    "instance_type",
                                    "instance_count",
                                    "app_insights_enabled",
                                    "scale_settings",
                                    "request_settings",
                                    "liveness_probe",
                                    "readiness_probe",
                                    "egress_public_network_access",
                                    "data_collector",
                                    "resources",
                                    "identity",
                                    "properties"};
  ASSIGN_OR_RETURN(ObjectView top, ObjectView::Open(doc, "", known, kReadOnlyFields));
  Parsed<DeploymentSpec> out;
  DeploymentSpec& spec = out.spec;
  const ReadContext context{options, &out.warnings};

  if (!top.Has("name")) return InvalidField("name", "a deployment needs a name");
  RETURN_IF_ERROR(top.ReadString("name", &spec.name));
  RETURN_IF_ERROR(ValidateName("deployment", spec.name, "name"));
  if (!top.Has("endpoint_name")) {
    return InvalidField("endpoint_name", "a deployment needs the name of its endpoint");
  }
  RETURN_IF_ERROR(top.ReadString("endpoint_name", &spec.endpoint_name));
  RETURN_IF_ERROR(ValidateName("endpoint", spec.endpoint_name, "endpoint_name"));
  RETURN_IF_ERROR(top.ReadString("description", &spec.description));
  RETURN_IF_ERROR(top.ReadStringMap("tags", &spec.tags));
  RETURN_IF_ERROR(internal::ReadModel(
      context, top, absl::StrCat(spec.endpoint_name, "-", spec.name), &spec.model));
  RETURN_IF_ERROR(internal::ReadCodeConfiguration(context, top, &spec.code_configuration));
  RETURN_IF_ERROR(internal::ReadEnvironment(context, top, &spec.environment));
  RETURN_IF_ERROR(internal::ReadEnvironmentVariables(top, "environment_variables",
                                                     &spec.environment_variables));
  RETURN_IF_ERROR(top.ReadString("instance_type", &spec.instance_type));
  RETURN_IF_ERROR(top.ReadInt("instance_count", 1, kMaxInstanceCount, &spec.instance_count));

  ASSIGN_OR_RETURN(auto requests,
                   top.ReadObject("request_settings",
                                  {"request_timeout_ms", "max_concurrent_requests_per_instance",
                                   "max_queue_wait_ms", "retry_on_instance_failure"}));
  if (requests.has_value()) {
    RequestSettings& settings = spec.request_settings;
    RETURN_IF_ERROR(requests->ReadInt("request_timeout_ms", 1, kMaxRequestTimeoutMs,
                                      &settings.request_timeout_ms));
    RETURN_IF_ERROR(requests->ReadInt("max_concurrent_requests_per_instance", 1, kIntMax,
                                      &settings.max_concurrent_requests_per_instance));
    settings.max_concurrent_given = requests->Has("max_concurrent_requests_per_instance");
    RETURN_IF_ERROR(
        requests->ReadInt("max_queue_wait_ms", 0, kIntMax, &settings.max_queue_wait_ms));
    RETURN_IF_ERROR(
        requests->ReadBool("retry_on_instance_failure", &settings.retry_on_instance_failure));
  }
  RETURN_IF_ERROR(ReadScaleSettings(context, top, top.Has("instance_count"), &spec));
  RETURN_IF_ERROR(ReadProbe(top, "liveness_probe", /*liveness=*/true, &spec.liveness_probe));
  RETURN_IF_ERROR(ReadProbe(top, "readiness_probe", /*liveness=*/false, &spec.readiness_probe));
  std::string egress = "enabled";
  RETURN_IF_ERROR(top.ReadChoice("egress_public_network_access", {"enabled", "disabled"}, &egress));
  spec.egress_public_network_access = egress == "enabled";
  RETURN_IF_ERROR(ReadResources(top, &spec.resource_limits));
  RETURN_IF_ERROR(ReadUnhonouredFields(context, top, spec));
  RETURN_IF_ERROR(CheckServable(spec));
  return out;
}

absl::Status CheckServable(const DeploymentSpec& spec) {
  switch (ServingKindOf(spec)) {
    case ServingKind::kCustomCommand:
      return absl::OkStatus();
    case ServingKind::kScoringScript:
      if (spec.code_configuration->scoring_script.empty()) {
        return InvalidField("code_configuration.scoring_script",
                            "required: the entry script (e.g. score.py) inside the code folder");
      }
      return absl::OkStatus();
    case ServingKind::kMlflow:
    case ServingKind::kTritonModel:
      break;
  }
  if (!spec.model.has_value()) {
    if (!spec.environment.image.empty()) return ImageOnlyError(spec.environment.image, false);
    return InvalidField("environment.command",
                        "nothing to serve: give environment.command (a program serving HTTP on "
                        "{port}), code_configuration with a scoring_script, or an MLflow model");
  }
  // Whether the model is an MLflow model (type mlflow_model, or a folder with an MLmodel file)
  // is known once its files are on the server: the control plane checks that.
  return absl::OkStatus();
}

absl::Status ImageOnlyError(const std::string& image, bool batch) {
  return InvalidField(
      "environment.image",
      absl::StrCat("berth does not run container images ('", image,
                   "'): give what serves the deployment instead: a scoring script "
                   "(code_configuration.code and scoring_script) or an MLflow model (model.type "
                   "mlflow_model, or a model folder with an MLmodel file)",
                   batch ? ""
                         : ", a model.type triton_model (served by berth-worker), or "
                           "environment.command (a program serving HTTP on {port})"));
}

json ToJson(const DeploymentSpec& spec) {
  json doc = {
      {"name", spec.name},
      {"endpoint_name", spec.endpoint_name},
      {"description", spec.description},
      {"tags", json(spec.tags)},
      {"environment_variables", json(spec.environment_variables)},
      {"instance_type", spec.instance_type},
      {"instance_count", spec.instance_count},
      {"request_settings",
       {{"request_timeout_ms", spec.request_settings.request_timeout_ms},
        {"max_concurrent_requests_per_instance",
         EffectiveRequestSettings(spec, ServingKindOf(spec) == ServingKind::kTritonModel)
             .max_concurrent_requests_per_instance},
        {"max_queue_wait_ms", spec.request_settings.max_queue_wait_ms},
        {"retry_on_instance_failure", spec.request_settings.retry_on_instance_failure}}},
      {"scale_settings", ScaleSettingsJson(spec.scale_settings)},
      {"liveness_probe", ProbeJson(spec.liveness_probe)},
      {"readiness_probe", ProbeJson(spec.readiness_probe)},
      {"egress_public_network_access", spec.egress_public_network_access ? "enabled" : "disabled"}};
  const ResourceLimits& limits = spec.resource_limits;
  if (limits.memory_bytes != 0 || limits.cpu_millis != 0) {
    json limits_json = json::object();
    if (limits.memory_bytes != 0) limits_json["memory"] = std::to_string(limits.memory_bytes);
    if (limits.cpu_millis != 0) limits_json["cpu"] = std::to_string(limits.cpu_millis) + "m";
    doc["resources"] = {{"limits", std::move(limits_json)}};
  }
  if (spec.model.has_value()) doc["model"] = internal::ModelJson(*spec.model);
  if (spec.code_configuration.has_value()) {
    doc["code_configuration"] = internal::CodeConfigurationJson(*spec.code_configuration);
  }
  doc["environment"] = internal::EnvironmentJson(spec.environment);
  return doc;
}

}  // namespace berth::core
