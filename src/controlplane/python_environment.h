#pragma once
// Checks a deployment's conda file against the Python interpreter that will run it, since
// berth runs scoring scripts in an existing interpreter instead of building an environment.
//
// A dependency that is not installed fails the deployment (naming it); a different version
// than pinned, or another Python version, is a warning naming both. Packages berth itself
// replaces (azureml-inference-server-http, azureml-defaults, inference-schema, azureml-core,
// ...) and conda's own entries (python's version aside, pip, setuptools, wheel) are skipped.
// Distribution names are compared after PEP 503 normalisation, with a few conda names mapped
// to their installed names (docs/yaml.md).

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::controlplane {

struct InterpreterInfo {
  std::string version;                          // "3.11.2"
  std::map<std::string, std::string> packages;  // normalised distribution name -> version
};

// Runs `python` once to read its version and installed distributions. Results are cached per
// interpreter for a minute. FAILED_PRECONDITION when it cannot be run.
absl::StatusOr<InterpreterInfo> InspectInterpreter(const std::string& python);

// PEP 503 name normalisation plus the conda-to-installed-name map ("pytorch" -> "torch").
std::string NormalizePackageName(std::string name);

// One dependency line of a conda file ("numpy=1.21.2", "scikit-learn==1.0.2", "conda-forge::x",
// "inference-schema[numpy-support]==1.3.0").
struct Requirement {
  std::string name;     // normalised
  std::string version;  // pinned version ("" when not pinned exactly)
  std::string text;     // as written
};
Requirement ParseRequirement(const std::string& text);

// Returns the warnings; an error (FAILED_PRECONDITION, target environment.conda_file) names
// every dependency that is missing.
absl::StatusOr<std::vector<std::string>> CheckCondaDependencies(const nlohmann::json& conda,
                                                                const InterpreterInfo& info,
                                                                const std::string& python);

}  // namespace berth::controlplane
