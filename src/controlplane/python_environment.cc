#include "controlplane/python_environment.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/errors.h"
#include "controlplane/debian_packages.h"

namespace berth::controlplane {

using nlohmann::json;

namespace {

// Conda package names whose installed (pip) distribution is called otherwise.
const std::map<std::string, std::string>& CondaNames() {
  static const std::map<std::string, std::string> names = {
      {"pytorch", "torch"},           {"py-xgboost", "xgboost"},     {"pytorch-cpu", "torch"},
      {"py-opencv", "opencv-python"}, {"msgpack-python", "msgpack"}, {"pyqt", "pyqt5"}};
  return names;
}

// What berth replaces, and conda's own tooling: never required to be installed.
bool Ignored(const std::string& name) {
  static const char* kIgnored[] = {"python",
                                   "pip",
                                   "setuptools",
                                   "wheel",
                                   "azureml-inference-server-http",
                                   "azureml-defaults",
                                   "inference-schema",
                                   "azureml-core",
                                   "azureml-contrib-services",
                                   "azureml-mlflow",
                                   "mlflow",
                                   "mlflow-skinny"};
  for (const char* n : kIgnored) {
    if (name == n) return true;
  }
  return false;
}

bool VersionMatches(const std::string& installed, const std::string& pinned) {
  std::string want = pinned;
  if (!want.empty() && want.back() == '*') want.pop_back();
  if (!want.empty() && want.back() == '.') want.pop_back();
  return installed == want || installed.rfind(want + ".", 0) == 0;
}

// Numeric release parts of a version ("3.11.2" -> 3, 11, 2); stops at the first other part.
std::vector<int> ReleaseParts(const std::string& version) {
  std::vector<int> parts;
  for (absl::string_view part : absl::StrSplit(version, '.')) {
    if (part.empty() || !absl::ascii_isdigit(part[0])) break;
    parts.push_back(std::atoi(std::string(part).c_str()));
  }
  return parts;
}

int CompareVersions(const std::string& a, const std::string& b) {
  std::vector<int> x = ReleaseParts(a);
  std::vector<int> y = ReleaseParts(b);
  x.resize(std::max(x.size(), y.size()));
  y.resize(x.size());
  return x < y ? -1 : (x == y ? 0 : 1);
}

// One marker clause, `lhs op rhs`; nullopt when berth cannot evaluate it.
std::optional<bool> ClauseHolds(const std::string& clause, const std::string& python_version) {
  static const std::regex kClause(
      R"re(\s*([A-Za-z_]+|'[^']*'|"[^"]*")\s*(===|==|!=|<=|>=|~=|<|>)\s*([A-Za-z_]+|'[^']*'|"[^"]*")\s*)re");
  std::smatch m;
  if (!std::regex_match(clause, m, kClause)) return std::nullopt;
  std::vector<int> parts = ReleaseParts(python_version);
  const std::string short_version =
      parts.size() >= 2 ? absl::StrCat(parts[0], ".", parts[1]) : python_version;
  const std::map<std::string, std::pair<std::string, bool>> variables = {
      {"python_version", {short_version, true}},
      {"python_full_version", {python_version, true}},
      {"sys_platform", {"linux", false}},
      {"platform_system", {"Linux", false}},
      {"os_name", {"posix", false}}};
  bool is_version = false;
  auto value = [&](const std::string& token) -> std::optional<std::string> {
    if (token[0] == '\'' || token[0] == '"') return token.substr(1, token.size() - 2);
    auto it = variables.find(token);
    if (it == variables.end()) return std::nullopt;
    is_version = is_version || it->second.second;
    return it->second.first;
  };
  std::optional<std::string> lhs = value(m[1]);
  std::optional<std::string> rhs = value(m[3]);
  const std::string op = m[2];
  if (!lhs || !rhs) return std::nullopt;
  if (!is_version) {
    if (op == "==" || op == "===") return *lhs == *rhs;
    if (op == "!=") return *lhs != *rhs;
    return std::nullopt;
  }
  int c = CompareVersions(*lhs, *rhs);
  if (op == "==" || op == "===") return c == 0;
  if (op == "!=") return c != 0;
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  if (op == ">=") return c >= 0;
  return std::nullopt;  // ~=
}

// The import names debian_packages.h gives for packages without distribution metadata, as a
// Python list literal: ['cv2'].
std::string ModulesList() {
  std::set<std::string> modules;
  for (const DebianPackage& entry : DebianPackages()) {
    if (!entry.module.empty()) modules.insert("'" + std::string(entry.module) + "'");
  }
  return "[" + absl::StrJoin(modules, ", ") + "]";
}

bool Installed(const InterpreterInfo& info, const std::string& name) {
  if (info.packages.contains(name)) return true;
  const DebianPackage* entry = FindDebianPackage(name);
  return entry != nullptr && !entry->module.empty() &&
         info.modules.contains(std::string(entry->module));
}

}  // namespace

std::string NormalizePackageName(std::string name) {
  name = absl::AsciiStrToLower(name);
  std::string out;
  for (char c : name) {
    bool sep = c == '-' || c == '_' || c == '.';
    if (sep) {
      if (!out.empty() && out.back() != '-') out += '-';
    } else {
      out += c;
    }
  }
  auto mapped = CondaNames().find(out);
  return mapped == CondaNames().end() ? out : mapped->second;
}

Requirement ParseRequirement(const std::string& text) {
  Requirement r;
  r.text = text;
  std::string s = text.substr(0, text.find(';'));
  if (auto semicolon = text.find(';'); semicolon != std::string::npos) {
    r.marker = std::string(absl::StripAsciiWhitespace(text.substr(semicolon + 1)));
  }
  if (auto channel = s.find("::"); channel != std::string::npos) s = s.substr(channel + 2);
  size_t end = s.find_first_of("=<>!~[ ");
  r.name = NormalizePackageName(std::string(absl::StripAsciiWhitespace(s.substr(0, end))));
  if (end == std::string::npos) return r;
  std::string rest = s.substr(end);
  if (auto close = rest.find(']'); rest[0] == '[' && close != std::string::npos) {
    rest = rest.substr(close + 1);
  }
  rest = std::string(absl::StripAsciiWhitespace(rest));
  if (rest.rfind("==", 0) == 0) {
    r.version = rest.substr(2);
  } else if (rest.rfind("=", 0) == 0) {
    r.version = rest.substr(1);
    // conda's "name=version=build"
    if (auto build = r.version.find('='); build != std::string::npos) r.version.resize(build);
  }
  if (r.version.find_first_of(",<>!~") != std::string::npos) r.version.clear();
  r.version = std::string(absl::StripAsciiWhitespace(r.version));
  return r;
}

bool MarkerHolds(const std::string& marker, const std::string& python_version) {
  if (marker.empty()) return true;
  if (marker.find(" or ") != std::string::npos || marker.find('(') != std::string::npos) {
    return true;
  }
  for (absl::string_view clause : absl::StrSplit(marker, " and ")) {
    std::optional<bool> holds = ClauseHolds(std::string(clause), python_version);
    if (holds.has_value() && !*holds) return false;
  }
  return true;
}

absl::StatusOr<InterpreterInfo> InspectInterpreter(const std::string& python) {
  struct Cached {
    InterpreterInfo info;
    std::chrono::steady_clock::time_point at;
  };
  static std::mutex mu;
  static std::map<std::string, Cached> cache;
  {
    std::lock_guard lock(mu);
    auto it = cache.find(python);
    if (it != cache.end() &&
        std::chrono::steady_clock::now() - it->second.at < std::chrono::minutes(1)) {
      return it->second.info;
    }
  }
  if (python.find('\'') != std::string::npos) {
    return absl::FailedPreconditionError("unusable interpreter path '" + python + "'");
  }
  const std::string script =
      "import sys, json, importlib.metadata as m\n"
      "pk = {}\n"
      "for d in m.distributions():\n"
      "    n = d.metadata['Name']\n"
      "    if n: pk[n] = d.version\n"
      "from importlib.util import find_spec\n"
      "md = [n for n in " +
      ModulesList() +
      " if find_spec(n)]\n"
      "print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], 'packages': pk, "
      "'modules': md}))\n";
  std::string command = "'" + python + "' -I -c \"" + script + "\" 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::FailedPreconditionError("cannot run '" + python + "'");
  std::string output;
  std::array<char, 4096> buffer;
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  json doc = json::parse(output, nullptr, false);
  if (status != 0 || doc.is_discarded() || !doc.is_object()) {
    return absl::FailedPreconditionError("cannot run the Python interpreter '" + python +
                                         "': " + output.substr(0, 500));
  }
  InterpreterInfo info;
  info.version = doc.value("version", "");
  for (const auto& [name, version] : doc["packages"].items()) {
    info.packages[NormalizePackageName(name)] = version.get<std::string>();
  }
  for (const json& module : doc["modules"]) info.modules.insert(module.get<std::string>());
  std::lock_guard lock(mu);
  cache[python] = {info, std::chrono::steady_clock::now()};
  return info;
}

std::vector<std::string> CondaRequirements(const json& conda) {
  std::vector<std::string> requirements;
  auto deps = conda.find("dependencies");
  if (deps == conda.end() || !deps->is_array()) return requirements;
  for (const json& dep : *deps) {
    if (dep.is_string()) {
      requirements.push_back(dep.get<std::string>());
    } else if (dep.is_object() && dep.contains("pip") && dep["pip"].is_array()) {
      for (const json& pip : dep["pip"]) {
        if (pip.is_string()) requirements.push_back(pip.get<std::string>());
      }
    }
  }
  return requirements;
}

absl::StatusOr<std::vector<std::string>> CheckRequirements(
    const std::vector<DeclaredRequirements>& declared, const std::string& field,
    const InterpreterInfo& info, const std::string& python) {
  std::vector<std::string> warnings;
  std::vector<std::string> missing;  // "<source> needs a (hint), b (hint)"
  std::set<std::string> seen;
  for (const DeclaredRequirements& source : declared) {
    std::vector<std::string> needs;
    for (const std::string& text : source.lines) {
      if (text.empty() || text[0] == '-') continue;  // pip options such as --extra-index-url
      Requirement r = ParseRequirement(text);
      if (r.name.empty() || !seen.insert(r.name).second) continue;
      if (!MarkerHolds(r.marker, info.version)) continue;
      if (r.name == "python") {
        if (!r.version.empty() && !VersionMatches(info.version, r.version)) {
          warnings.push_back(source.source + ": pins python " + r.version + " but " + python +
                             " is Python " + info.version);
        }
        continue;
      }
      if (Ignored(r.name)) continue;
      if (!Installed(info, r.name)) {
        needs.push_back(r.text + " (" + DebianPackageHint(r.name) + ")");
        continue;
      }
      auto installed = info.packages.find(r.name);
      if (!r.version.empty() && installed != info.packages.end() &&
          !VersionMatches(installed->second, r.version)) {
        warnings.push_back(source.source + ": pins " + r.name + " " + r.version + " but " + python +
                           " has " + r.name + " " + installed->second);
      }
    }
    if (!needs.empty()) missing.push_back(source.source + " needs " + absl::StrJoin(needs, ", "));
  }
  if (!missing.empty()) {
    return InvalidField(
        field, absl::StrCat(absl::StrJoin(missing, "; "), "; not installed for ", python,
                            ". berth runs scoring scripts in an existing interpreter, so install "
                            "what is missing into it, set environment.python to an interpreter "
                            "that has it, or remove the dependency"));
  }
  return warnings;
}

absl::StatusOr<std::vector<std::string>> CheckCondaDependencies(const json& conda,
                                                                const InterpreterInfo& info,
                                                                const std::string& python) {
  return CheckRequirements({{"environment.conda_file", CondaRequirements(conda)}},
                           "environment.conda_file", info, python);
}

}  // namespace berth::controlplane
