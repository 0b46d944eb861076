#include "controlplane/serving_checks.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::controlplane {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr char kOfTheModel[] = " of the MLflow model";
// A model's environment files are small; a bigger one is not a requirements file.
constexpr std::uintmax_t kMaxFileBytes = 1 << 20;

// The text of `name` inside the model folder; nullopt when absent. A name leaving the folder is
// refused (python_env.yaml names files with -r).
absl::StatusOr<std::optional<std::string>> ReadModelFile(const fs::path& folder,
                                                         const std::string& name) {
  fs::path relative = fs::path(name).lexically_normal();
  if (relative.is_absolute() || relative.empty() || *relative.begin() == "..") {
    return InvalidField("model", absl::StrCat("'", name, "' named in the MLflow model's ",
                                              "python_env.yaml is outside the model folder"));
  }
  std::error_code ec;
  fs::path path = folder / relative;
  if (!fs::is_regular_file(path, ec)) return std::optional<std::string>();
  if (fs::file_size(path, ec) > kMaxFileBytes) {
    return InvalidField("model", absl::StrCat(name, kOfTheModel, " is over 1 MiB"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return InvalidField("model", absl::StrCat("cannot read ", name, kOfTheModel));
  return std::optional<std::string>(text.str());
}

absl::StatusOr<json> ParseModelYaml(const std::string& name, const std::string& text) {
  auto doc = core::YamlToJson(text);
  if (!doc.ok()) {
    return InvalidField(
        "model", absl::StrCat(name, kOfTheModel, " is not valid YAML: ", doc.status().message()));
  }
  if (doc->is_null()) return json::object();
  if (!doc->is_object()) {
    return InvalidField("model", absl::StrCat(name, kOfTheModel, " is not a YAML mapping"));
  }
  return *doc;
}

// A requirements file and those it names with -r, each once.
absl::Status AddRequirementsFile(const fs::path& folder, const std::string& name,
                                 std::set<std::string>* read,
                                 std::vector<DeclaredRequirements>* out) {
  if (!read->insert(fs::path(name).lexically_normal().string()).second) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<std::string> text, ReadModelFile(folder, name));
  if (!text.has_value()) return absl::OkStatus();
  std::vector<std::string> includes;
  out->push_back({name + kOfTheModel, ParseRequirementsFile(*text, &includes)});
  for (const std::string& include : includes) {
    RETURN_IF_ERROR(AddRequirementsFile(folder, include, read, out));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<fs::path> MlflowModelFolder(const ArtifactStore& artifacts,
                                          const core::DeploymentSpec& spec) {
  if (!spec.model || !spec.model->artifact || spec.model->artifact->is_file) return std::nullopt;
  fs::path folder = artifacts.PathOf(spec.model->artifact->digest);
  std::error_code ec;
  if (!fs::is_regular_file(folder / "MLmodel", ec)) return std::nullopt;
  return folder;
}

absl::Status CheckMlflowServable(const ArtifactStore& artifacts, const core::DeploymentSpec& spec,
                                 bool batch) {
  if (core::ServingKindOf(spec) != core::ServingKind::kMlflow) return absl::OkStatus();
  if (MlflowModelFolder(artifacts, spec).has_value()) return absl::OkStatus();
  if (!spec.environment.image.empty()) return core::ImageOnlyError(spec.environment.image, batch);
  return InvalidField("code_configuration",
                      batch ? "the model has no MLmodel file, so it needs a scoring script "
                              "(code_configuration.code and scoring_script)"
                            : "the model has no MLmodel file, so it needs a scoring script "
                              "(code_configuration.code and scoring_script) or "
                              "environment.command");
}

std::vector<std::string> ParseRequirementsFile(const std::string& text,
                                               std::vector<std::string>* includes) {
  std::vector<std::string> lines;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    std::string line(absl::StripAsciiWhitespace(raw));
    if (line.empty() || line[0] == '#') continue;
    if (auto comment = line.find(" #"); comment != std::string::npos) {
      line = std::string(absl::StripAsciiWhitespace(line.substr(0, comment)));
    }
    if (line[0] == '-') {
      for (std::string_view option : {"-r", "--requirement"}) {
        if (line.rfind(option, 0) == 0) {
          std::string rest = line.substr(option.size());
          if (!rest.empty() && rest[0] == '=') rest.erase(0, 1);
          rest = std::string(absl::StripAsciiWhitespace(rest));
          if (!rest.empty()) includes->push_back(rest);
          break;
        }
      }
      continue;  // -c, -e, --index-url, ...: not a dependency berth can check
    }
    // A URL or path without a name ("git+https://...", "./pkg.whl") names no distribution.
    std::string name = line.substr(0, line.find_first_of("=<>!~[ ;@"));
    if (name.find_first_of("/:\\") != std::string::npos) continue;
    lines.push_back(line);
  }
  return lines;
}

absl::StatusOr<std::vector<DeclaredRequirements>> MlflowModelRequirements(const fs::path& folder) {
  std::vector<DeclaredRequirements> out;
  std::set<std::string> read;
  ASSIGN_OR_RETURN(std::optional<std::string> conda, ReadModelFile(folder, "conda.yaml"));
  if (conda.has_value()) {
    ASSIGN_OR_RETURN(json doc, ParseModelYaml("conda.yaml", *conda));
    out.push_back({std::string("conda.yaml") + kOfTheModel, CondaRequirements(doc)});
  }
  ASSIGN_OR_RETURN(std::optional<std::string> env, ReadModelFile(folder, "python_env.yaml"));
  if (env.has_value()) {
    ASSIGN_OR_RETURN(json doc, ParseModelYaml("python_env.yaml", *env));
    DeclaredRequirements declared{std::string("python_env.yaml") + kOfTheModel, {}};
    if (auto python = doc.find("python"); python != doc.end() && python->is_string()) {
      declared.lines.push_back("python==" + python->get<std::string>());
    }
    std::vector<std::string> includes;
    if (auto deps = doc.find("dependencies"); deps != doc.end() && deps->is_array()) {
      std::string text;
      for (const json& dep : *deps) {
        if (dep.is_string()) text += dep.get<std::string>() + "\n";
      }
      std::vector<std::string> lines = ParseRequirementsFile(text, &includes);
      declared.lines.insert(declared.lines.end(), lines.begin(), lines.end());
    }
    out.push_back(std::move(declared));
    for (const std::string& include : includes) {
      RETURN_IF_ERROR(AddRequirementsFile(folder, include, &read, &out));
    }
  }
  RETURN_IF_ERROR(AddRequirementsFile(folder, "requirements.txt", &read, &out));
  return out;
}

absl::StatusOr<std::vector<std::string>> CheckPythonDependencies(const ArtifactStore& artifacts,
                                                                 const core::DeploymentSpec& spec,
                                                                 const InterpreterInfo& info,
                                                                 const std::string& python) {
  std::vector<std::string> warnings;
  if (!spec.environment.conda.empty()) {
    ASSIGN_OR_RETURN(warnings,
                     CheckCondaDependencies(json::parse(spec.environment.conda), info, python));
  }
  std::optional<fs::path> folder = MlflowModelFolder(artifacts, spec);
  if (!folder.has_value()) return warnings;
  ASSIGN_OR_RETURN(std::vector<DeclaredRequirements> declared, MlflowModelRequirements(*folder));
  ASSIGN_OR_RETURN(std::vector<std::string> found,
                   CheckRequirements(declared, "model", info, python));
  warnings.insert(warnings.end(), found.begin(), found.end());
  return warnings;
}

}  // namespace berth::controlplane
