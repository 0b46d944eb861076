#include "controlplane/supervisor/launcher.h"

#include <unistd.h>

#include <fstream>
#include <mutex>

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

// Where the sandbox shows what an instance needs (docs/architecture.md, "Instance sandbox").
constexpr char kAppInside[] = "/var/azureml-app";
constexpr char kModelInside[] = "/var/azureml-model";
constexpr char kPythonInside[] = "/var/lib/berth/python";
constexpr char kWorkerInside[] = "/var/lib/berth/bin/berth-worker";
constexpr char kSocketsInside[] = "/run/berth";
constexpr char kBatchInputInside[] = "/var/azureml-input";
constexpr char kBatchOutputInside[] = "/var/azureml-output";

// Folders every sandbox shows at the same path anyway.
bool IsSystemPath(const fs::path& path) {
  for (const char* root : {"/usr/", "/bin/", "/sbin/", "/lib", "/opt/", "/etc/"}) {
    if (path.string().starts_with(root)) return true;
  }
  return false;
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
  result.log_file = request.batch && !request.batch->log_file.empty()
                        ? request.batch->log_file
                        : request.instance_dir / "logs" / core::kInferenceServerLog;
  auto fail = [&](const std::string& message) {
    AppendInstanceLog(result.log_file, "berth: " + message);
    result.process = absl::FailedPreconditionError(message);
    return result;
  };
  std::error_code ec;
  fs::create_directories(request.instance_dir / "logs", ec);
  // Azure's storage-initializer container puts the model and code in place; here the launcher
  // does, and says so in the log of that name (get-logs --container storage-initializer).
  const fs::path storage_log = request.instance_dir / "logs" / core::kStorageInitializerLog;
  auto storage_note = [&](const std::string& line) {
    AppendInstanceLog(storage_log, "berth: " + line);
  };
  absl::Status prepared = absl::OkStatus();
  if (spec.code_configuration && spec.code_configuration->artifact) {
    prepared = artifacts_.CopyTo(*spec.code_configuration->artifact, app);
    storage_note(prepared.ok() ? "code " + spec.code_configuration->artifact->digest + " (" +
                                     spec.code_configuration->code + ") copied to " + kAppInside
                               : "cannot copy the code: " + prepared.ToString());
  } else {
    fs::remove_all(app, ec);
    fs::create_directories(app, ec);
  }
  if (!prepared.ok()) return fail("cannot prepare the code folder: " + prepared.ToString());

  // What the instance sees, and where: host paths without a sandbox, else the binds below.
  const bool sandboxed = options_.sandbox;
  compute::SandboxSpec sandbox;
  auto expose = [&](const fs::path& host, const char* inside, bool writable) -> std::string {
    if (!sandboxed) return host.string();
    sandbox.binds.push_back({host, inside, writable});
    return inside;
  };
  auto owned_folder = [&](const fs::path& folder) -> absl::Status {
    fs::remove_all(folder, ec);
    fs::create_directories(folder, ec);
    if (ec) return absl::InternalError("cannot create " + folder.string() + ": " + ec.message());
    fs::permissions(folder, fs::perms::owner_all, ec);
    if (options_.instance_owner && ::chown(folder.c_str(), options_.instance_owner->first,
                                           options_.instance_owner->second) != 0) {
      return absl::InternalError("cannot hand " + folder.string() + " to the instance user");
    }
    return absl::OkStatus();
  };

  core::LaunchInputs inputs;
  if (spec.model) {
    // A registered model (`azureml:<name>:<version>`) brings its files from the registry.
    absl::StatusOr<core::ModelSpec> model =
        models_ ? models_->Resolve(*spec.model) : absl::StatusOr<core::ModelSpec>(*spec.model);
    if (!model.ok()) {
      storage_note("cannot resolve the model: " + model.status().ToString());
      return fail("cannot prepare the model: " + model.status().ToString());
    }
    auto model_dir = artifacts_.MaterializeModel(*model);
    if (!model_dir.ok()) {
      storage_note("cannot unpack the model: " + model_dir.status().ToString());
      return fail("cannot prepare the model: " + model_dir.status().ToString());
    }
    storage_note(
        "model " +
        (model->reference.empty() ? model->name + ":" + model->version : model->reference) +
        (model->artifact ? " " + model->artifact->digest : "") + " at " + kModelInside +
        (sandboxed ? " (read-only)" : " (" + model_dir->string() + ")"));
    inputs.model_dir = expose(*model_dir, kModelInside, false) + "/";
    if (core::ServingKindOf(spec) == core::ServingKind::kMlflow) {
      auto folder = MlflowFolder(*model_dir, *model);
      if (!folder.ok()) return fail(std::string(folder.status().message()));
      inputs.mlflow_folder = *folder;
      inputs.native_mlflow = core::IsNativeMlflow(*model_dir / *folder);
    }
  }
  auto port = compute::PickFreePort();
  if (!port.ok()) return fail("no free port: " + port.status().ToString());
  inputs.port = *port;
  // A batch worker is berth's Python batch runner, whatever the model's flavor.
  result.native = !request.batch && core::ServedByWorker(spec, inputs.native_mlflow);
  const bool custom =
      !request.batch && core::ServingKindOf(spec) == core::ServingKind::kCustomCommand;

  compute::SandboxNetwork network = compute::SandboxNetwork::kNone;
  if (spec.egress_public_network_access) {
    network = options_.user_mode_network ? compute::SandboxNetwork::kUserMode
                                         : compute::SandboxNetwork::kHost;
  }
  sandbox.network = network;
  fs::path socket_folder;
  if (!options_.socket_root.empty()) {
    {
      std::lock_guard lock(socket_folders_mu_);
      auto [it, added] = socket_folders_.try_emplace(request.instance_dir.string(), 0);
      if (added) it->second = next_socket_folder_++;
      socket_folder = options_.socket_root / std::to_string(it->second);
    }
    absl::Status made = owned_folder(socket_folder);
    if (!made.ok()) return fail(std::string(made.message()));
    inputs.socket_dir = expose(socket_folder, kSocketsInside, true);
  }
  // A custom command keeps serving TCP; in a network namespace of its own a relay makes its port
  // a socket. Sharing the host's network, it is reached on the port as before.
  const bool relay =
      custom && sandboxed && network != compute::SandboxNetwork::kHost && !socket_folder.empty();
  inputs.relay_command_port = relay;
  if (!custom && socket_folder.empty()) {
    auto grpc_port = compute::PickFreePort();
    if (!grpc_port.ok()) return fail("no free port: " + grpc_port.status().ToString());
    inputs.grpc_port = *grpc_port;
  }
  if (result.native) inputs.worker = expose(options_.worker, kWorkerInside, false);
  if (sandboxed) {
    absl::Status made = owned_folder(request.instance_dir / "tmp");
    if (!made.ok()) return fail(std::string(made.message()));
    expose(request.instance_dir / "tmp", "/tmp", true);
    // An interpreter outside the system folders (a virtualenv, a conda prefix) is shown
    // read-only where it is, with its whole prefix.
    const fs::path python(spec.environment.python);
    if (python.is_absolute() && !IsSystemPath(python)) {
      fs::path prefix = python.parent_path().parent_path();
      sandbox.binds.push_back({prefix, prefix.string(), false});
    }
  }
  if (request.batch) {
    const BatchWorkerRequest& batch = *request.batch;
    if (socket_folder.empty()) return fail("a batch worker needs a socket folder");
    if (batch.input_is_file) {
      const std::string name = batch.input.filename().string();
      result.endpoints.batch_input_root =
          sandboxed ? kBatchInputInside : batch.input.parent_path().string();
      if (sandboxed) {
        sandbox.binds.push_back({batch.input, std::string(kBatchInputInside) + "/" + name, false});
      }
    } else {
      result.endpoints.batch_input_root = expose(batch.input, kBatchInputInside, false);
    }
    // The instance user writes the output folder (scripts of summary_only deployments do).
    if (options_.instance_owner && ::chown(batch.output.c_str(), options_.instance_owner->first,
                                           options_.instance_owner->second) != 0) {
      return fail("cannot hand " + batch.output.string() + " to the instance user");
    }
    inputs.batch = core::LaunchInputs::BatchWorker{expose(batch.output, kBatchOutputInside, true),
                                                   batch.output_action, batch.logging_level,
                                                   batch.node, batch.process};
  }
  inputs.app_dir = expose(app, kAppInside, false);
  inputs.python = options_.python;
  inputs.python_dir =
      options_.python_dir.empty() ? "" : expose(options_.python_dir, kPythonInside, false);
  inputs.endpoint = request.endpoint;
  inputs.deployment = request.deployment;
  inputs.instance = std::to_string(request.instance_id);
  core::LaunchPlan plan = core::PlanLaunch(spec, inputs);

  InstanceEndpoints& reach = result.endpoints;
  if (request.batch) {
    reach.batch_socket = (socket_folder / core::kBatchSocketName).string();
  } else if (socket_folder.empty() || (custom && !relay)) {
    reach.port = inputs.port;
    reach.grpc_port = inputs.grpc_port;
  } else if (custom || result.native) {
    reach.http_socket = (socket_folder / core::kHttpSocketName).string();
    if (result.native) reach.grpc_socket = (socket_folder / core::kGrpcSocketName).string();
  } else {
    for (int w = 0; w < core::RunnerWorkerCount(spec); ++w) {
      reach.runner_sockets.push_back((socket_folder / core::RunnerWorkerSocketName(w)).string());
    }
    reach.runner_control_socket = (socket_folder / core::kRunnerControlSocketName).string();
  }

  compute::LaunchSpec launch;
  launch.instance_key = request.batch ? request.endpoint + "/" + request.deployment + "/worker-" +
                                            std::to_string(request.instance_id)
                                      : request.endpoint + "/" + request.deployment + "/" +
                                            std::to_string(request.instance_id);
  launch.argv = std::move(plan.argv);
  launch.env = std::move(plan.env);
  launch.working_dir = inputs.app_dir;
  launch.log_file = result.log_file;
  if (sandboxed) launch.sandbox = std::move(sandbox);
  launch.limits = {spec.resource_limits.memory_bytes, spec.resource_limits.cpu_millis};
  AppendInstanceLog(result.log_file,
                    "berth: starting instance " + std::to_string(request.instance_id) +
                        (socket_folder.empty() || (custom && !relay)
                             ? " on port " + std::to_string(inputs.port)
                             : " with its sockets in " + socket_folder.string()) +
                        (sandboxed ? " (sandboxed)" : " (unsandboxed: --sandbox=none)"));
  auto process = driver_.Start(launch);
  if (!process.ok()) return fail(std::string(process.status().message()));
  result.process = *process;
  return result;
}

}  // namespace berth::controlplane
