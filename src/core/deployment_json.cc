// The deployment document <-> DeploymentSpec conversion, and which deployments berth can serve.

#include <limits>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/json_fields.h"
#include "core/model_asset.h"
#include "core/spec_json.h"

namespace berth::core {
namespace {

using internal::ObjectView;
using internal::ReadArtifact;
using internal::ReadVersion;
using nlohmann::json;

constexpr int kIntMax = std::numeric_limits<int>::max();
constexpr int kMaxInstances = 50;
constexpr int kMaxRequestTimeoutMs = 180000;

const std::vector<std::string> kReadOnlyFields = {
    "provisioning_state", "scoring_uri", "openapi_uri", "id",       "reason",
    "created_at",         "updated_at",  "warnings",    "instances"};

struct Reader {
  const DeploymentParseOptions& options;
  std::vector<std::string>* warnings;

  void Warn(std::string_view path, std::string_view message) const {
    warnings->push_back(absl::StrCat(absl::string_view(path.data(), path.size()), ": ",
                                     absl::string_view(message.data(), message.size())));
  }
};

absl::Status Missing(const ObjectView& view, const std::string& key, std::string_view why) {
  return InvalidField(view.PathOf(key), why);
}

// `azureml:<name>:<version>`, `azureml:<name>@latest`, or a registry id
// `azureml://registries/<registry>/<kind>/<name>/versions/<version>` (or `/labels/latest`).
// Fills `name` and `version` ("" for latest).
absl::Status ParseAssetReference(const json& value, const std::string& path,
                                 const std::string& kind, std::string* name, std::string* version) {
  static const std::regex kVersioned("azureml:([A-Za-z0-9_][A-Za-z0-9_.-]*):([A-Za-z0-9_.-]+)");
  static const std::regex kLatest("azureml:([A-Za-z0-9_][A-Za-z0-9_.-]*)@latest");
  static const std::regex kRegistry(
      "azureml://registries/[^/]+/(models|environments)/([^/]+)/(versions/([^/]+)|labels/latest)");
  const std::string expected = absl::StrCat(
      "a reference 'azureml:<name>:<version>' or 'azureml:<name>@latest', or an "
      "inline ",
      kind, " object");
  if (!value.is_string()) return internal::TypeError(path, expected, value);
  const std::string& text = value.get_ref<const std::string&>();
  std::smatch match;
  if (std::regex_match(text, match, kVersioned)) {
    *name = match[1];
    *version = match[2];
  } else if (std::regex_match(text, match, kLatest)) {
    *name = match[1];
    version->clear();
  } else if (std::regex_match(text, match, kRegistry) && match[1] == kind + "s") {
    *name = match[2];
    *version = match[4];
  } else {
    return internal::TypeError(path, expected, value);
  }
  return absl::OkStatus();
}

// A `path`/`code` field naming client files is only usable once the CLI has uploaded them.
absl::Status CheckUploaded(const Reader& reader, const ObjectView& view, const std::string& key,
                           const std::string& local_path,
                           const std::optional<ArtifactRef>& artifact) {
  if (artifact.has_value() || reader.options.allow_local_paths) return absl::OkStatus();
  return InvalidField(view.PathOf(key), absl::StrCat("local path '", local_path,
                                                     "' must be uploaded; use the berth CLI, "
                                                     "which uploads it"));
}

absl::Status ReadModel(const Reader& reader, const ObjectView& top, const DeploymentSpec& spec,
                       std::optional<ModelSpec>* out) {
  if (!top.Has("model")) return absl::OkStatus();
  const json& value = top.Get("model");
  ModelSpec model;
  if (!value.is_object()) {
    RETURN_IF_ERROR(ParseAssetReference(value, "model", "model", &model.name, &model.version));
    // Resolved against the model registry when the deployment is written (control plane).
    model.reference = value.get<std::string>();
    *out = std::move(model);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(ObjectView view,
                   ObjectView::Open(value, "model",
                                    {"name", "version", "path", "type", "description", "tags",
                                     "properties", "artifact"}));
  model.name = absl::StrCat(spec.endpoint_name, "-", spec.name);
  model.version = "1";
  RETURN_IF_ERROR(view.ReadNonEmptyString("name", &model.name));
  RETURN_IF_ERROR(ReadVersion(view, &model.version));
  // Both name the model's folder on the server (models/<name>/<version>/).
  RETURN_IF_ERROR(ValidateAssetName(view.PathOf("name"), model.name));
  RETURN_IF_ERROR(ValidateAssetName(view.PathOf("version"), model.version));
  RETURN_IF_ERROR(
      view.ReadChoice("type", {"custom_model", "mlflow_model", "triton_model"}, &model.type));
  RETURN_IF_ERROR(view.ReadString("path", &model.path));
  RETURN_IF_ERROR(view.ReadString("description", &model.description));
  std::map<std::string, std::string> metadata;  // validated, not kept
  RETURN_IF_ERROR(view.ReadStringMap("tags", &metadata));
  RETURN_IF_ERROR(view.ReadStringMap("properties", &metadata));
  ASSIGN_OR_RETURN(model.artifact, ReadArtifact(view));
  if (model.path.empty() && !model.artifact.has_value()) {
    return Missing(view, "path",
                   "an inline model needs a path (a local folder or file; the berth CLI "
                   "uploads it)");
  }
  if (!model.path.empty()) {
    RETURN_IF_ERROR(CheckUploaded(reader, view, "path", model.path, model.artifact));
  }
  *out = std::move(model);
  return absl::OkStatus();
}

absl::Status ReadCodeConfiguration(const Reader& reader, const ObjectView& top,
                                   std::optional<CodeConfiguration>* out) {
  ASSIGN_OR_RETURN(auto view,
                   top.ReadObject("code_configuration", {"code", "scoring_script", "artifact"}));
  if (!view.has_value()) return absl::OkStatus();
  CodeConfiguration code;
  RETURN_IF_ERROR(view->ReadString("code", &code.code));
  ASSIGN_OR_RETURN(code.artifact, ReadArtifact(*view));
  if (!view->Has("scoring_script")) {
    return Missing(*view, "scoring_script", "required when code_configuration is given");
  }
  RETURN_IF_ERROR(view->ReadNonEmptyString("scoring_script", &code.scoring_script));
  const std::string& script = code.scoring_script;
  bool escapes = script.front() == '/' || script == ".." || script.rfind("../", 0) == 0 ||
                 script.find("/../") != std::string::npos ||
                 (script.size() >= 3 && script.compare(script.size() - 3, 3, "/..") == 0);
  if (escapes) {
    return InvalidField(
        view->PathOf("scoring_script"),
        absl::StrCat("must be a path inside code_configuration.code, got '", script, "'"));
  }
  if (code.code.empty() && !code.artifact.has_value()) {
    return Missing(*view, "code", "required: the local folder that holds the scoring script");
  }
  if (!code.code.empty()) {
    RETURN_IF_ERROR(CheckUploaded(reader, *view, "code", code.code, code.artifact));
  }
  *out = std::move(code);
  return absl::OkStatus();
}

// A character of a message about text, readable even when it is a control character.
std::string ShowChar(char c) {
  switch (c) {
    case ' ':
      return "a space";
    case '\r':
      return "CR (\\r)";
    case '\n':
      return "LF (\\n)";
    case '\t':
      return "a tab (\\t)";
    case '\0':
      return "a NUL byte";
    default:
      break;
  }
  const auto byte = static_cast<unsigned char>(c);
  if (byte < 0x20 || byte >= 0x7f) return absl::StrFormat("byte 0x%02x", byte);
  return absl::StrCat("'", std::string(1, c), "'");
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 `pchar` and '/': unreserved, sub-delims, ':' and '@'. '%' is checked apart.
bool IsPathChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-._~!$&'()*+,;=:@/").find(c) != std::string_view::npos;
}

// A route path is written into the request line berthd sends to instances, so it must be an
// RFC 3986 absolute path and nothing more: a space, CR or LF would split or forge the request,
// and '?' / '#' would clash with the query berthd appends from the client's request.
absl::Status CheckRoutePath(const std::string& field, const std::string& path) {
  if (path.empty() || path.front() != '/') {
    return internal::TypeError(field, "a path starting with '/'", json(path));
  }
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%' && i + 2 < path.size() && IsHexDigit(path[i + 1]) && IsHexDigit(path[i + 2])) {
      i += 2;
      continue;
    }
    if (IsPathChar(c)) continue;
    const std::string why =
        c == '%' ? "'%' must start an escape of two hex digits like %20"
        : (c == '?' || c == '#')
            ? absl::StrCat(ShowChar(c),
                           " is not allowed: a route is a path without a query or "
                           "fragment")
            : absl::StrCat(ShowChar(c),
                           " is not allowed; use letters, digits, -._~!$&'()*+,;=:@/ or %XX "
                           "escapes (RFC 3986)");
    return InvalidField(field, absl::StrCat("invalid path at character ", i + 1, ": ", why));
  }
  return absl::OkStatus();
}

absl::StatusOr<Route> ReadRoute(const ObjectView& config, const std::string& key) {
  if (!config.Has(key)) {
    return Missing(config, key,
                   "required: inference_config needs liveness_route, readiness_route and "
                   "scoring_route");
  }
  ASSIGN_OR_RETURN(auto view, config.ReadObject(key, {"port", "path"}));
  Route route;
  if (!view->Has("port")) return Missing(*view, "port", "required field is missing");
  RETURN_IF_ERROR(view->ReadInt("port", 1, 65535, &route.port));
  if (!view->Has("path")) return Missing(*view, "path", "required field is missing");
  RETURN_IF_ERROR(view->ReadString("path", &route.path));
  RETURN_IF_ERROR(CheckRoutePath(view->PathOf("path"), route.path));
  return route;
}

absl::Status ReadCommand(const ObjectView& view, std::vector<std::string>* out) {
  if (!view.Has("command")) return absl::OkStatus();
  const json& value = view.Get("command");
  const std::string path = view.PathOf("command");
  std::vector<std::string> command;
  if (value.is_string()) {
    for (absl::string_view word :
         absl::StrSplit(value.get<std::string>(), absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
      command.emplace_back(word);
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      const std::string item_path = absl::StrCat(path, "[", i, "]");
      if (value[i].is_null()) return internal::TypeError(item_path, "a string", value[i]);
      // YAML reads `[serve, --port, 8080]` with a number in it; the program gets text anyway.
      ASSIGN_OR_RETURN(std::string word, internal::ScalarToString(value[i], item_path));
      command.push_back(std::move(word));
    }
    if (!command.empty() && command.front().empty()) {
      return InvalidField(absl::StrCat(path, "[0]"), "the program name is empty");
    }
  } else {
    return internal::TypeError(path, "a list of strings (or one string)", value);
  }
  if (command.empty()) return internal::TypeError(path, "a non-empty command", value);
  // execve takes C strings: a NUL byte would silently cut the word short at launch.
  for (size_t i = 0; i < command.size(); ++i) {
    if (command[i].find('\0') != std::string::npos) {
      return InvalidField(value.is_array() ? absl::StrCat(path, "[", i, "]") : path,
                          "contains a NUL byte");
    }
  }
  *out = std::move(command);
  return absl::OkStatus();
}

absl::Status ReadEnvironment(const Reader& reader, const ObjectView& top, EnvironmentSpec* out) {
  if (!top.Has("environment")) return absl::OkStatus();
  const json& value = top.Get("environment");
  EnvironmentSpec env;
  if (!value.is_object()) {
    std::string name, version;
    RETURN_IF_ERROR(ParseAssetReference(value, "environment", "environment", &name, &version));
    env.reference = value.get<std::string>();
    reader.Warn("environment", absl::StrCat("berth has no environment registry; '", env.reference,
                                            "' is ignored and instances run in the host's "
                                            "environment"));
    *out = std::move(env);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(
      ObjectView view,
      ObjectView::Open(value, "environment",
                       {"name", "version", "image", "conda_file", "conda", "python", "build",
                        "os_type", "inference_config", "command", "description", "tags"}));
  std::string ignored_text;
  std::map<std::string, std::string> ignored_map;
  RETURN_IF_ERROR(view.ReadString("name", &ignored_text));
  RETURN_IF_ERROR(ReadVersion(view, &ignored_text));
  RETURN_IF_ERROR(view.ReadString("description", &ignored_text));
  RETURN_IF_ERROR(view.ReadStringMap("tags", &ignored_map));
  RETURN_IF_ERROR(view.ReadString("image", &env.image));
  if (!env.image.empty()) {
    reader.Warn("environment.image", absl::StrCat("not honoured; berth runs instances as local "
                                                  "processes, not in the image '",
                                                  env.image, "'"));
  }
  RETURN_IF_ERROR(view.ReadString("conda_file", &env.conda_file));
  if (view.Has("conda")) {
    const json& conda = view.Get("conda");
    if (!conda.is_object()) {
      return InvalidField(view.PathOf("conda"),
                          "expected the conda file's content as a mapping (the berth CLI sends "
                          "it from conda_file)");
    }
    env.conda = conda.dump();
  } else if (!env.conda_file.empty()) {
    reader.Warn("environment.conda_file",
                "not checked: its content did not come with the request (the berth CLI sends it "
                "as environment.conda)");
  }
  RETURN_IF_ERROR(view.ReadString("python", &env.python));
  if (!env.python.empty() && env.python.front() != '/') {
    return InvalidField(
        view.PathOf("python"),
        "expected an absolute path to a Python interpreter, got '" + env.python + "'");
  }
  ASSIGN_OR_RETURN(auto build, view.ReadObject("build", {"path", "dockerfile_path"}));
  if (build.has_value()) {
    RETURN_IF_ERROR(build->ReadString("path", &ignored_text));
    RETURN_IF_ERROR(build->ReadString("dockerfile_path", &ignored_text));
    reader.Warn("environment.build", "ignored; berth does not build container images");
  }
  std::string os_type;
  RETURN_IF_ERROR(view.ReadChoice("os_type", {"linux", "windows"}, &os_type));
  if (os_type == "windows") {
    reader.Warn("environment.os_type", "ignored; instances run on the host's operating system");
  }
  ASSIGN_OR_RETURN(
      auto config,
      view.ReadObject("inference_config", {"liveness_route", "readiness_route", "scoring_route"}));
  if (config.has_value()) {
    InferenceConfig routes;
    ASSIGN_OR_RETURN(routes.liveness_route, ReadRoute(*config, "liveness_route"));
    ASSIGN_OR_RETURN(routes.readiness_route, ReadRoute(*config, "readiness_route"));
    ASSIGN_OR_RETURN(routes.scoring_route, ReadRoute(*config, "scoring_route"));
    env.inference_config = std::move(routes);
  }
  RETURN_IF_ERROR(ReadCommand(view, &env.command));
  *out = std::move(env);
  return absl::OkStatus();
}

absl::Status ReadEnvironmentVariables(const ObjectView& top,
                                      std::map<std::string, std::string>* out) {
  RETURN_IF_ERROR(top.ReadStringMap("environment_variables", out));
  for (const auto& [name, value] : *out) {
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      return InvalidField(top.PathOf("environment_variables"),
                          absl::StrCat("'", name, "' is not a valid variable name"));
    }
    // The environment of a process is C strings: a NUL byte would cut the value short.
    if (value.find('\0') != std::string::npos) {
      return InvalidField(internal::JoinPath(top.PathOf("environment_variables"), name),
                          "the value contains a NUL byte");
    }
  }
  return absl::OkStatus();
}

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

absl::Status ReadScaleSettings(const Reader& reader, const ObjectView& top) {
  ASSIGN_OR_RETURN(
      auto view,
      top.ReadObject("scale_settings", {"type", "min_instances", "max_instances",
                                        "target_utilization_percentage", "polling_interval"}));
  if (!view.has_value()) return absl::OkStatus();
  std::string type = "default";
  int unused = 0;
  RETURN_IF_ERROR(view->ReadChoice("type", {"default", "target_utilization"}, &type));
  RETURN_IF_ERROR(view->ReadInt("min_instances", 0, kMaxInstances, &unused));
  RETURN_IF_ERROR(view->ReadInt("max_instances", 1, kMaxInstances, &unused));
  RETURN_IF_ERROR(view->ReadInt("target_utilization_percentage", 1, 100, &unused));
  RETURN_IF_ERROR(view->ReadInt("polling_interval", 1, kIntMax, &unused));
  if (type == "target_utilization") {
    reader.Warn("scale_settings",
                "autoscale is not supported yet; berth keeps instance_count instances");
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
absl::Status ReadUnhonouredFields(const Reader& reader, const ObjectView& top,
                                  const DeploymentSpec& spec) {
  std::string text;
  RETURN_IF_ERROR(top.ReadChoice("type", {"managed", "kubernetes"}, &text));
  if (text == "kubernetes") {
    reader.Warn("type", "ignored; berth runs kubernetes deployments as local processes too");
  }
  text.clear();
  RETURN_IF_ERROR(top.ReadString("model_mount_path", &text));
  if (!text.empty()) {
    reader.Warn("model_mount_path", "ignored; instances find the model at $AZUREML_MODEL_DIR");
  }
  if (!spec.instance_type.empty()) {
    reader.Warn("instance_type", absl::StrCat("ignored; berth runs instances as local processes "
                                              "on this machine, not on '",
                                              spec.instance_type, "' VMs"));
  }
  bool app_insights = false;
  RETURN_IF_ERROR(top.ReadBool("app_insights_enabled", &app_insights));
  if (app_insights) {
    reader.Warn("app_insights_enabled",
                "ignored; berth exports Prometheus metrics at /metrics instead");
  }
  RETURN_IF_ERROR(ReadScaleSettings(reader, top));
  if (top.Has("data_collector")) {
    reader.Warn("data_collector", "ignored; berth does not collect request data yet");
  }
  if (top.Has("identity")) {
    reader.Warn("identity", "ignored; instances run as the berthd user");
  }
  return absl::OkStatus();
}

json ArtifactJson(const ArtifactRef& artifact) {
  return json{{"digest", artifact.digest},
              {"base_name", artifact.base_name},
              {"is_file", artifact.is_file}};
}

json RouteJson(const Route& route) { return json{{"port", route.port}, {"path", route.path}}; }

json ProbeJson(const ProbeSettings& probe) {
  return json{{"initial_delay", probe.initial_delay_s},
              {"period", probe.period_s},
              {"timeout", probe.timeout_s},
              {"success_threshold", probe.success_threshold},
              {"failure_threshold", probe.failure_threshold}};
}

}  // namespace

absl::StatusOr<AssetReference> ParseModelReference(const std::string& text) {
  AssetReference reference;
  RETURN_IF_ERROR(
      ParseAssetReference(json(text), "model", "model", &reference.name, &reference.version));
  return reference;
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
  const Reader reader{options, &out.warnings};

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
  RETURN_IF_ERROR(ReadModel(reader, top, spec, &spec.model));
  RETURN_IF_ERROR(ReadCodeConfiguration(reader, top, &spec.code_configuration));
  RETURN_IF_ERROR(ReadEnvironment(reader, top, &spec.environment));
  RETURN_IF_ERROR(ReadEnvironmentVariables(top, &spec.environment_variables));
  RETURN_IF_ERROR(top.ReadString("instance_type", &spec.instance_type));
  RETURN_IF_ERROR(top.ReadInt("instance_count", 1, kMaxInstances, &spec.instance_count));

  ASSIGN_OR_RETURN(auto requests,
                   top.ReadObject("request_settings",
                                  {"request_timeout_ms", "max_concurrent_requests_per_instance",
                                   "max_queue_wait_ms"}));
  if (requests.has_value()) {
    RequestSettings& settings = spec.request_settings;
    RETURN_IF_ERROR(requests->ReadInt("request_timeout_ms", 1, kMaxRequestTimeoutMs,
                                      &settings.request_timeout_ms));
    RETURN_IF_ERROR(requests->ReadInt("max_concurrent_requests_per_instance", 1, kIntMax,
                                      &settings.max_concurrent_requests_per_instance));
    settings.max_concurrent_given = requests->Has("max_concurrent_requests_per_instance");
    RETURN_IF_ERROR(
        requests->ReadInt("max_queue_wait_ms", 0, kIntMax, &settings.max_queue_wait_ms));
  }
  RETURN_IF_ERROR(ReadProbe(top, "liveness_probe", /*liveness=*/true, &spec.liveness_probe));
  RETURN_IF_ERROR(ReadProbe(top, "readiness_probe", /*liveness=*/false, &spec.readiness_probe));
  std::string egress = "enabled";
  RETURN_IF_ERROR(top.ReadChoice("egress_public_network_access", {"enabled", "disabled"}, &egress));
  spec.egress_public_network_access = egress == "enabled";
  RETURN_IF_ERROR(ReadResources(top, &spec.resource_limits));
  RETURN_IF_ERROR(ReadUnhonouredFields(reader, top, spec));
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
    return InvalidField("environment.command",
                        "nothing to serve: give environment.command (a program serving HTTP on "
                        "{port}), code_configuration with a scoring_script, or an MLflow model");
  }
  // Whether the model is an MLflow model (type mlflow_model, or a folder with an MLmodel file)
  // is known once its files are on the server: the control plane checks that.
  return absl::OkStatus();
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
        {"max_queue_wait_ms", spec.request_settings.max_queue_wait_ms}}},
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
  if (spec.model.has_value()) {
    const ModelSpec& model = *spec.model;
    if (!model.reference.empty()) {
      doc["model"] = model.reference;
    } else {
      json inline_model = {{"name", model.name},
                           {"version", model.version},
                           {"type", model.type},
                           {"description", model.description}};
      if (!model.path.empty()) inline_model["path"] = model.path;
      if (model.artifact.has_value()) inline_model["artifact"] = ArtifactJson(*model.artifact);
      doc["model"] = std::move(inline_model);
    }
  }
  if (spec.code_configuration.has_value()) {
    const CodeConfiguration& code = *spec.code_configuration;
    json code_json = {{"scoring_script", code.scoring_script}};
    if (!code.code.empty()) code_json["code"] = code.code;
    if (code.artifact.has_value()) code_json["artifact"] = ArtifactJson(*code.artifact);
    doc["code_configuration"] = std::move(code_json);
  }
  const EnvironmentSpec& env = spec.environment;
  if (!env.reference.empty()) {
    doc["environment"] = env.reference;
  } else {
    json env_json = json::object();
    if (!env.command.empty()) env_json["command"] = env.command;
    if (env.inference_config.has_value()) {
      env_json["inference_config"] = {
          {"liveness_route", RouteJson(env.inference_config->liveness_route)},
          {"readiness_route", RouteJson(env.inference_config->readiness_route)},
          {"scoring_route", RouteJson(env.inference_config->scoring_route)}};
    }
    if (!env.image.empty()) env_json["image"] = env.image;
    if (!env.conda_file.empty()) env_json["conda_file"] = env.conda_file;
    if (!env.conda.empty()) env_json["conda"] = json::parse(env.conda);
    if (!env.python.empty()) env_json["python"] = env.python;
    doc["environment"] = std::move(env_json);
  }
  return doc;
}

}  // namespace berth::core
