#include "core/launch_plan.h"

#include <cctype>
#include <charconv>

namespace berth::core {

bool ServedByWorker(const DeploymentSpec& spec, bool native_mlflow) {
  const ServingKind kind = ServingKindOf(spec);
  return kind == ServingKind::kTritonModel || (kind == ServingKind::kMlflow && native_mlflow);
}

std::string RunnerWorkerSocketName(int index) {
  return "worker-" + std::to_string(index) + ".sock";
}

int RunnerWorkerCount(const DeploymentSpec& spec) {
  auto it = spec.environment_variables.find("WORKER_COUNT");
  if (it == spec.environment_variables.end()) return 1;
  int count = 0;
  auto [end, error] =
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), count);
  if (error != std::errc() || end != it->second.data() + it->second.size() || count < 1) return 1;
  return count;
}

LaunchPlan PlanLaunch(const DeploymentSpec& spec, const LaunchInputs& in) {
  LaunchPlan plan;
  const std::string port = std::to_string(in.port);
  const ServingKind kind = ServingKindOf(spec);
  const std::string sockets = in.socket_dir.empty() ? "" : in.socket_dir + "/";
  if (in.batch) {
    const std::string& python =
        spec.environment.python.empty() ? in.python : spec.environment.python;
    std::string level = in.batch->logging_level;
    for (char& c : level) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    plan.argv = {python,
                 "-m",
                 "berth_runner.batch",
                 "--socket",
                 sockets + kBatchSocketName,
                 "--logging_level",
                 level,
                 "--node",
                 std::to_string(in.batch->node),
                 "--process",
                 std::to_string(in.batch->process)};
    plan.env["PYTHONUNBUFFERED"] = "1";
    if (kind == ServingKind::kScoringScript) {
      plan.env["AZUREML_ENTRY_SCRIPT"] = spec.code_configuration->scoring_script;
    } else {
      plan.env["BERTH_MLFLOW_MODEL_FOLDER"] = in.mlflow_folder;
    }
  } else if (ServedByWorker(spec, in.native_mlflow)) {
    if (sockets.empty()) {
      plan.argv = {in.worker,
                   "--host",
                   "127.0.0.1",
                   "--http-port",
                   port,
                   "--grpc-port",
                   std::to_string(in.grpc_port)};
    } else {
      plan.argv = {in.worker, "--http-socket", sockets + kHttpSocketName, "--grpc-socket",
                   sockets + kGrpcSocketName};
    }
    if (kind == ServingKind::kTritonModel) {
      plan.argv.insert(plan.argv.end(), {"--model-repository", in.model_dir});
    } else {
      plan.argv.insert(plan.argv.end(), {"--mlflow-model", in.model_dir + in.mlflow_folder});
    }
    // berth extension: threads one model execution may use (config.pbtxt's
    // INTRA_OP_THREAD_COUNT parameter overrides it per model).
    if (auto threads = spec.environment_variables.find("BERTH_INTRA_OP_THREADS");
        threads != spec.environment_variables.end()) {
      plan.argv.insert(plan.argv.end(), {"--intra-op-threads", threads->second});
    }
  } else if (kind == ServingKind::kCustomCommand) {
    if (in.relay_command_port) {
      // The shell starts the relay and then becomes the command, so the command stays the
      // instance's main process; the relay dies with the sandbox.
      plan.argv = {"/bin/sh", "-c",
                   "socat UNIX-LISTEN:" + sockets + kHttpSocketName +
                       ",fork,mode=600 TCP:127.0.0.1:" + port + " &\nexec \"$@\"",
                   "sh"};
    }
    for (std::string arg : spec.environment.command) {
      for (size_t pos; (pos = arg.find("{port}")) != std::string::npos;) arg.replace(pos, 6, port);
      plan.argv.push_back(std::move(arg));
    }
  } else {
    const std::string& python =
        spec.environment.python.empty() ? in.python : spec.environment.python;
    plan.argv = {python, "-m", "berth_runner"};
    if (sockets.empty()) {
      plan.argv.insert(plan.argv.end(), {"--port", port});
    } else {
      plan.argv.insert(plan.argv.end(), {"--socket-dir", in.socket_dir});
    }
    plan.env["PYTHONUNBUFFERED"] = "1";
    plan.env["AML_APP_ROOT"] = in.app_dir;
    if (kind == ServingKind::kScoringScript) {
      plan.env["AZUREML_ENTRY_SCRIPT"] = spec.code_configuration->scoring_script;
    } else {
      plan.env["MLFLOW_MODEL_FOLDER"] = in.mlflow_folder;
    }
  }
  // The deployment's variables (WORKER_COUNT, ...) override defaults; the variables berth
  // uses to wire the instance are set last and win.
  for (const auto& [key, value] : spec.environment_variables) plan.env[key] = value;
  if (in.batch || kind == ServingKind::kScoringScript || kind == ServingKind::kMlflow) {
    auto user_path = spec.environment_variables.find("PYTHONPATH");
    plan.env["PYTHONPATH"] = user_path == spec.environment_variables.end()
                                 ? in.python_dir
                                 : in.python_dir + ":" + user_path->second;
    plan.env["AML_APP_ROOT"] = in.app_dir;
  }
  if (!in.model_dir.empty()) plan.env["AZUREML_MODEL_DIR"] = in.model_dir;
  if (in.batch) {
    plan.env["AZUREML_BI_OUTPUT_PATH"] = in.batch->output_dir;
    plan.env["BERTH_BATCH_OUTPUT_ACTION"] = in.batch->output_action;
  }
  plan.env["PORT"] = port;
  if (!in.socket_dir.empty()) plan.env["BERTH_SOCKET_DIR"] = in.socket_dir;
  plan.env["BERTH_ENDPOINT"] = in.endpoint;
  plan.env["BERTH_DEPLOYMENT"] = in.deployment;
  plan.env["BERTH_INSTANCE"] = in.instance;
  return plan;
}

}  // namespace berth::core
