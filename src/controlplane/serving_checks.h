#pragma once
// Write-time checks of a deployment against its files in the artifact store, shared by online
// deployments (ManagementService) and batch deployments (batch::BatchService): a deployment
// with neither a command nor a scoring script must have an MLflow model to serve, and the
// Python interpreter must have what the conda file and the MLflow model's own environment
// files (conda.yaml, python_env.yaml, requirements.txt) need, before any instance starts.
// Functions only; they read the store's files and never write.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/artifact_store.h"
#include "controlplane/python_environment.h"
#include "core/spec.h"

namespace berth::controlplane {

// The store folder of the deployment's model when that model is an MLflow model (a folder with
// an MLmodel file at its top), else nullopt.
std::optional<std::filesystem::path> MlflowModelFolder(const ArtifactStore& artifacts,
                                                       const core::DeploymentSpec& spec);

// For a deployment berth serves as an MLflow model (core::ServingKind::kMlflow: no command, no
// scoring script, not a triton_model): OK when its model is an MLflow model. Otherwise
// INVALID_ARGUMENT on `environment.image` when the deployment gives a container image (berth
// runs none), else on `code_configuration`; both say what to give instead (`batch`: the
// alternatives a batch deployment has).
absl::Status CheckMlflowServable(const ArtifactStore& artifacts, const core::DeploymentSpec& spec,
                                 bool batch);

// The dependency lines an MLflow model folder declares: conda.yaml (conda and pip sections),
// python_env.yaml (its python version, dependencies, and the files those name with -r) and
// requirements.txt, each named "<file> of the MLflow model". Files that are absent are skipped;
// one that cannot be read or parsed is INVALID_ARGUMENT on `model` naming it.
absl::StatusOr<std::vector<DeclaredRequirements>> MlflowModelRequirements(
    const std::filesystem::path& folder);

// The lines of a pip requirements file, without comments, blank lines, options and URLs;
// `includes` receives the files named with -r / --requirement.
std::vector<std::string> ParseRequirementsFile(const std::string& text,
                                               std::vector<std::string>* includes);

// Checks environment.conda (INVALID_ARGUMENT on environment.conda_file) and, when the model is
// an MLflow model, its environment files (INVALID_ARGUMENT on `model`) against the interpreter
// (python_environment.h). Returns the warnings.
absl::StatusOr<std::vector<std::string>> CheckPythonDependencies(const ArtifactStore& artifacts,
                                                                 const core::DeploymentSpec& spec,
                                                                 const InterpreterInfo& info,
                                                                 const std::string& python);

}  // namespace berth::controlplane
