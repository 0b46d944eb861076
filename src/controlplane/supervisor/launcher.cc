#include "controlplane/supervisor/launcher.h"

#include <fstream>

#include "core/launch_plan.h"
#include "core/mlflow_flavor.h"

namespace berth::controlplane {

namespace fs = std::filesystem;

namespace {

// MLflow mode: the folder inside AZUREML_MODEL_DIR that holds the MLmodel file.
absl::StatusOr<std::string> MlflowFolder(const fs::path& model_dir, const core::ModelSpec& model) {
  std::error_code ec;
  std::string folder = model.artifact && !model.artifact->is_file ? model.artifact->base_name : "";
  if (fs::exists(model_dir / folder / "MLmodel", ec)) return folder;
  return absl::FailedPreconditionError(
      "the model has no MLmodel file at " + (model_dir / folder / "MLmodel").string() +
      ": a deployment without environment.command or code_configuration serves an MLflow model");
}

}  // namespace

void AppendInstanceLog(const fs::path& file, const std::string& line) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  std::ofstream(file, std::ios::app) << line << "\n";
}

LocalLauncher::LocalLauncher(ArtifactStore& artifacts, ModelRegistry* models,
                             compute::ComputeDriver& driver, LocalLauncherOptions options)
    : artifacts_(artifacts), models_(models), driver_(driver), options_(std::move(options)) {}

LaunchResult LocalLauncher::Launch(const LaunchRequest& request) {
  const core::DeploymentSpec& spec = request.spec;
  LaunchResult result;
  fs::path app = request.instance_dir / "app";
  result.log_file = request.instance_dir / "logs" / "inference-server.log";
  auto fail = [&](const std::string& message) {
    AppendInstanceLog(result.log_file, "berth: " + message);
    result.process = absl::FailedPreconditionError(message);
    return result;
  };
  std::error_code ec;
  fs::create_directories(request.instance_dir / "logs", ec);
  absl::Status prepared = absl::OkStatus();
  if (spec.code_configuration && spec.code_configuration->artifact) {
    prepared = artifacts_.CopyTo(*spec.code_configuration->artifact, app);
  } else {
    fs::remove_all(app, ec);
    fs::create_directories(app, ec);
  }
  if (!prepared.ok()) return fail("cannot prepare the code folder: " + prepared.ToString());
  core::LaunchInputs inputs;
  if (spec.model) {
    // A registered model (`azureml:<name>:<version>`) brings its files from the registry.
    absl::StatusOr<core::ModelSpec> model =
        models_ ? models_->Resolve(*spec.model) : absl::StatusOr<core::ModelSpec>(*spec.model);
    if (!model.ok()) return fail("cannot prepare the model: " + model.status().ToString());
    auto model_dir = artifacts_.MaterializeModel(*model);
    if (!model_dir.ok()) return fail("cannot prepare the model: " + model_dir.status().ToString());
    inputs.model_dir = model_dir->string() + "/";
    if (core::ServingKindOf(spec) == core::ServingKind::kMlflow) {
      auto folder = MlflowFolder(*model_dir, *model);
      if (!folder.ok()) return fail(std::string(folder.status().message()));
      inputs.mlflow_folder = *folder;
      inputs.native_mlflow = core::IsNativeMlflow(*model_dir / *folder);
    }
  }
  auto port = compute::PickFreePort();
  if (!port.ok()) return fail("no free port: " + port.status().ToString());
  result.port = *port;
  inputs.port = result.port;
  result.native = core::ServedByWorker(spec, inputs.native_mlflow);
  if (result.native) {
    auto grpc_port = compute::PickFreePort();
    if (!grpc_port.ok()) return fail("no free port: " + grpc_port.status().ToString());
    result.grpc_port = *grpc_port;
    inputs.grpc_port = result.grpc_port;
    inputs.worker = options_.worker.string();
  }
  inputs.app_dir = app.string();
  inputs.python = options_.python;
  inputs.python_dir = options_.python_dir.string();
  inputs.endpoint = request.endpoint;
  inputs.deployment = request.deployment;
  inputs.instance = std::to_string(request.instance_id);
  core::LaunchPlan plan = core::PlanLaunch(spec, inputs);
  compute::LaunchSpec launch;
  launch.instance_key =
      request.endpoint + "/" + request.deployment + "/" + std::to_string(request.instance_id);
  launch.argv = std::move(plan.argv);
  launch.env = std::move(plan.env);
  launch.working_dir = app;
  launch.log_file = result.log_file;
  AppendInstanceLog(result.log_file, "berth: starting instance " +
                                         std::to_string(request.instance_id) + " on port " +
                                         std::to_string(result.port));
  auto process = driver_.Start(launch);
  if (!process.ok()) return fail(std::string(process.status().message()));
  result.process = *process;
  return result;
}

}  // namespace berth::controlplane
