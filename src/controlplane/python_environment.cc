#include "controlplane/python_environment.h"

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"

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
  std::string s = text.substr(0, text.find(';'));  // environment markers
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
      "print(json.dumps({'version': '%d.%d.%d' % sys.version_info[:3], 'packages': pk}))\n";
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
  std::lock_guard lock(mu);
  cache[python] = {info, std::chrono::steady_clock::now()};
  return info;
}

absl::StatusOr<std::vector<std::string>> CheckCondaDependencies(const json& conda,
                                                                const InterpreterInfo& info,
                                                                const std::string& python) {
  std::vector<std::string> requirements;
  auto deps = conda.find("dependencies");
  if (deps != conda.end() && deps->is_array()) {
    for (const json& dep : *deps) {
      if (dep.is_string()) {
        requirements.push_back(dep.get<std::string>());
      } else if (dep.is_object() && dep.contains("pip") && dep["pip"].is_array()) {
        for (const json& pip : dep["pip"]) {
          if (pip.is_string()) requirements.push_back(pip.get<std::string>());
        }
      }
    }
  }
  std::vector<std::string> warnings;
  std::vector<std::string> missing;
  for (const std::string& text : requirements) {
    if (text.empty() || text[0] == '-') continue;  // pip options such as --extra-index-url
    Requirement r = ParseRequirement(text);
    if (r.name == "python") {
      if (!r.version.empty() && !VersionMatches(info.version, r.version)) {
        warnings.push_back("environment.conda_file: pins python " + r.version + " but " + python +
                           " is Python " + info.version);
      }
      continue;
    }
    if (r.name.empty() || Ignored(r.name)) continue;
    auto installed = info.packages.find(r.name);
    if (installed == info.packages.end()) {
      missing.push_back(r.text);
      continue;
    }
    if (!r.version.empty() && !VersionMatches(installed->second, r.version)) {
      warnings.push_back("environment.conda_file: pins " + r.name + " " + r.version + " but " +
                         python + " has " + r.name + " " + installed->second);
    }
  }
  if (!missing.empty()) {
    return InvalidField("environment.conda_file",
                        "not installed for " + python + ": " + absl::StrJoin(missing, ", ") +
                            " (install it, e.g. with apt-get install python3-<name>, or set "
                            "environment.python to an interpreter that has it)");
  }
  return warnings;
}

}  // namespace berth::controlplane
