#pragma once
// Checks a deployment's conda file against the Python interpreter that will run it, since
// berth runs scoring scripts in an existing interpreter instead of building an environment.
//
// A dependency that is not installed fails the deployment (naming it, with how to install it
// on Debian 12: debian_packages.h); a different version
// than pinned, or another Python version, is a warning naming both. Packages berth itself
// replaces (azureml-inference-server-http, azureml-defaults, inference-schema, azureml-core,
// ...) and conda's own entries (python's version aside, pip, setuptools, wheel) are skipped.
// Distribution names are compared after PEP 503 normalisation, with a few conda names mapped
// to their installed names (docs/yaml.md).

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::controlplane {

struct InterpreterInfo {
  std::string version;                          // "3.11.2"
  std::map<std::string, std::string> packages;  // normalised distribution name -> version
  // Which of the modules debian_packages.h names (for Debian packages that install no
  // distribution metadata, as python3-opencv's cv2) the interpreter can import.
  std::set<std::string> modules;
};

// Runs `python` once to read its version, installed distributions and importable modules.
// Results are cached per interpreter for a minute. FAILED_PRECONDITION when it cannot be run.
absl::StatusOr<InterpreterInfo> InspectInterpreter(const std::string& python);

// PEP 503 name normalisation plus the conda-to-installed-name map ("pytorch" -> "torch").
std::string NormalizePackageName(std::string name);

// One dependency line of a conda file ("numpy=1.21.2", "scikit-learn==1.0.2", "conda-forge::x",
// "inference-schema[numpy-support]==1.3.0").
struct Requirement {
  std::string name;     // normalised
  std::string version;  // pinned version ("" when not pinned exactly)
  std::string marker;   // PEP 508 environment marker after ';' ("" when none)
  std::string text;     // as written
};
Requirement ParseRequirement(const std::string& text);

// Whether a PEP 508 marker holds for a Linux interpreter of `python_version` ("3.11.2"). Reads
// clauses joined by `and` over python_version, python_full_version, sys_platform,
// platform_system and os_name; any other marker is taken to hold (the dependency is checked).
bool MarkerHolds(const std::string& marker, const std::string& python_version);

// The dependency lines of a conda file: its conda section and its pip section.
std::vector<std::string> CondaRequirements(const nlohmann::json& conda);

// Dependency lines and where they come from, as messages name it ("environment.conda_file",
// "conda.yaml of the MLflow model").
struct DeclaredRequirements {
  std::string source;
  std::vector<std::string> lines;
};

// Checks dependency lines against the interpreter. Returns the warnings (other pinned versions,
// another Python); an error (INVALID_ARGUMENT on `field`) names every missing dependency, each
// with its Debian install hint (debian_packages.h). A name is checked once, where it first
// appears; pip options (lines starting with '-') are skipped.
absl::StatusOr<std::vector<std::string>> CheckRequirements(
    const std::vector<DeclaredRequirements>& declared, const std::string& field,
    const InterpreterInfo& info, const std::string& python);

// CheckRequirements over a conda file (environment.conda_file).
absl::StatusOr<std::vector<std::string>> CheckCondaDependencies(const nlohmann::json& conda,
                                                                const InterpreterInfo& info,
                                                                const std::string& python);

}  // namespace berth::controlplane
