// The parts of a deployment document that online and batch deployments share.

#include "core/deployment_parts.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace berth::core::internal {
namespace {

using nlohmann::json;

absl::Status Missing(const ObjectView& view, const std::string& key, std::string_view why) {
  return InvalidField(view.PathOf(key), why);
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
    return TypeError(field, "a path starting with '/'", json(path));
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
      if (value[i].is_null()) return TypeError(item_path, "a string", value[i]);
      // YAML reads `[serve, --port, 8080]` with a number in it; the program gets text anyway.
      ASSIGN_OR_RETURN(std::string word, ScalarToString(value[i], item_path));
      command.push_back(std::move(word));
    }
    if (!command.empty() && command.front().empty()) {
      return InvalidField(absl::StrCat(path, "[0]"), "the program name is empty");
    }
  } else {
    return TypeError(path, "a list of strings (or one string)", value);
  }
  if (command.empty()) return TypeError(path, "a non-empty command", value);
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

}  // namespace

void ReadContext::Warn(std::string_view path, std::string_view message) const {
  warnings->push_back(absl::StrCat(absl::string_view(path.data(), path.size()), ": ",
                                   absl::string_view(message.data(), message.size())));
}

std::optional<AssetReference> MatchAssetReference(std::string_view text,
                                                  std::string_view registry_kind) {
  static const std::regex kVersioned("azureml:([A-Za-z0-9_][A-Za-z0-9_.-]*):([A-Za-z0-9_.-]+)");
  static const std::regex kLatest("azureml:([A-Za-z0-9_][A-Za-z0-9_.-]*)@latest");
  static const std::regex kRegistry(
      "azureml://registries/[^/]+/([a-z]+)/([^/]+)/(versions/([^/]+)|labels/latest)");
  const std::string subject(text);
  std::smatch match;
  if (std::regex_match(subject, match, kVersioned)) {
    return AssetReference{match[1], match[2]};
  }
  if (std::regex_match(subject, match, kLatest)) return AssetReference{match[1], ""};
  if (!registry_kind.empty() && std::regex_match(subject, match, kRegistry) &&
      match.str(1) == registry_kind) {
    return AssetReference{match[2], match[4]};
  }
  return std::nullopt;
}

absl::StatusOr<AssetReference> ParseAssetReference(const json& value, std::string_view path,
                                                   std::string_view kind) {
  const std::string expected = absl::StrCat(
      "a reference 'azureml:<name>:<version>' or 'azureml:<name>@latest', or an inline ",
      absl::string_view(kind.data(), kind.size()), " object");
  if (!value.is_string()) return TypeError(path, expected, value);
  std::optional<AssetReference> reference =
      MatchAssetReference(value.get_ref<const std::string&>(),
                          absl::StrCat(absl::string_view(kind.data(), kind.size()), "s"));
  if (!reference.has_value()) return TypeError(path, expected, value);
  return *std::move(reference);
}

absl::Status ReadModel(const ReadContext& context, const ObjectView& top,
                       std::string_view default_name, std::optional<ModelSpec>* out) {
  if (!top.Has("model")) return absl::OkStatus();
  const json& value = top.Get("model");
  ModelSpec model;
  if (!value.is_object()) {
    ASSIGN_OR_RETURN(AssetReference reference,
                     ParseAssetReference(value, top.PathOf("model"), "model"));
    model.name = std::move(reference.name);
    model.version = std::move(reference.version);
    // Resolved against the model registry when the deployment is written (control plane).
    model.reference = value.get<std::string>();
    *out = std::move(model);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(ObjectView view,
                   ObjectView::Open(value, top.PathOf("model"),
                                    {"name", "version", "path", "type", "description", "tags",
                                     "properties", "artifact"}));
  model.name = std::string(default_name);
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
    RETURN_IF_ERROR(CheckUploaded(context.options.allow_local_paths, view.PathOf("path"),
                                  model.path, model.artifact));
  }
  *out = std::move(model);
  return absl::OkStatus();
}

absl::Status ReadCodeConfiguration(const ReadContext& context, const ObjectView& top,
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
    RETURN_IF_ERROR(CheckUploaded(context.options.allow_local_paths, view->PathOf("code"),
                                  code.code, code.artifact));
  }
  *out = std::move(code);
  return absl::OkStatus();
}

absl::Status ReadEnvironment(const ReadContext& context, const ObjectView& top,
                             EnvironmentSpec* out) {
  if (!top.Has("environment")) return absl::OkStatus();
  const json& value = top.Get("environment");
  EnvironmentSpec env;
  if (!value.is_object()) {
    RETURN_IF_ERROR(ParseAssetReference(value, top.PathOf("environment"), "environment").status());
    env.reference = value.get<std::string>();
    context.Warn("environment", absl::StrCat("berth has no environment registry; '", env.reference,
                                             "' is ignored and instances run in the host's "
                                             "environment"));
    *out = std::move(env);
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(
      ObjectView view,
      ObjectView::Open(value, top.PathOf("environment"),
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
    context.Warn("environment.image", absl::StrCat("not honoured; berth runs instances as local "
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
    context.Warn("environment.conda_file",
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
    context.Warn("environment.build", "ignored; berth does not build container images");
  }
  std::string os_type;
  RETURN_IF_ERROR(view.ReadChoice("os_type", {"linux", "windows"}, &os_type));
  if (os_type == "windows") {
    context.Warn("environment.os_type", "ignored; instances run on the host's operating system");
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

absl::Status ReadEnvironmentVariables(const ObjectView& top, const std::string& key,
                                      std::map<std::string, std::string>* out) {
  RETURN_IF_ERROR(top.ReadStringMap(key, out));
  for (const auto& [name, value] : *out) {
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      return InvalidField(top.PathOf(key),
                          absl::StrCat("'", name, "' is not a valid variable name"));
    }
    // The environment of a process is C strings: a NUL byte would cut the value short.
    if (value.find('\0') != std::string::npos) {
      return InvalidField(JoinPath(top.PathOf(key), name), "the value contains a NUL byte");
    }
  }
  return absl::OkStatus();
}
json ModelJson(const ModelSpec& model) {
  if (!model.reference.empty()) return model.reference;
  json doc = {{"name", model.name},
              {"version", model.version},
              {"type", model.type},
              {"description", model.description}};
  if (!model.path.empty()) doc["path"] = model.path;
  if (model.artifact.has_value()) doc["artifact"] = ArtifactJson(*model.artifact);
  return doc;
}

json CodeConfigurationJson(const CodeConfiguration& code) {
  json doc = {{"scoring_script", code.scoring_script}};
  if (!code.code.empty()) doc["code"] = code.code;
  if (code.artifact.has_value()) doc["artifact"] = ArtifactJson(*code.artifact);
  return doc;
}

json EnvironmentJson(const EnvironmentSpec& environment) {
  if (!environment.reference.empty()) return environment.reference;
  const auto route_json = [](const Route& route) {
    return json{{"port", route.port}, {"path", route.path}};
  };
  json doc = json::object();
  if (!environment.command.empty()) doc["command"] = environment.command;
  if (environment.inference_config.has_value()) {
    const InferenceConfig& config = *environment.inference_config;
    doc["inference_config"] = {{"liveness_route", route_json(config.liveness_route)},
                               {"readiness_route", route_json(config.readiness_route)},
                               {"scoring_route", route_json(config.scoring_route)}};
  }
  if (!environment.image.empty()) doc["image"] = environment.image;
  if (!environment.conda_file.empty()) doc["conda_file"] = environment.conda_file;
  if (!environment.conda.empty()) doc["conda"] = json::parse(environment.conda);
  if (!environment.python.empty()) doc["python"] = environment.python;
  return doc;
}

}  // namespace berth::core::internal
