#include "core/launch_plan.h"

namespace berth::core {

bool ServedByWorker(const DeploymentSpec& spec, bool native_mlflow) {
  const ServingKind kind = ServingKindOf(spec);
  return kind == ServingKind::kTritonModel || (kind == ServingKind::kMlflow && native_mlflow);
}

LaunchPlan PlanLaunch(const DeploymentSpec& spec, const LaunchInputs& in) {
  LaunchPlan plan;
  const std::string port = std::to_string(in.port);
  const ServingKind kind = ServingKindOf(spec);
  if (ServedByWorker(spec, in.native_mlflow)) {
    plan.argv = {in.worker,
                 "--host",
                 "127.0.0.1",
                 "--http-port",
                 port,
                 "--grpc-port",
                 std::to_string(in.grpc_port)};
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
    for (std::string arg : spec.environment.command) {
      for (size_t pos; (pos = arg.find("{port}")) != std::string::npos;) arg.replace(pos, 6, port);
      plan.argv.push_back(std::move(arg));
    }
  } else {
    const std::string& python =
        spec.environment.python.empty() ? in.python : spec.environment.python;
    plan.argv = {python, "-m", "berth_runner", "--port", port};
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
  if (kind == ServingKind::kScoringScript || kind == ServingKind::kMlflow) {
    auto user_path = spec.environment_variables.find("PYTHONPATH");
    plan.env["PYTHONPATH"] = user_path == spec.environment_variables.end()
                                 ? in.python_dir
                                 : in.python_dir + ":" + user_path->second;
    plan.env["AML_APP_ROOT"] = in.app_dir;
  }
  if (!in.model_dir.empty()) plan.env["AZUREML_MODEL_DIR"] = in.model_dir;
  plan.env["PORT"] = port;
  plan.env["BERTH_ENDPOINT"] = in.endpoint;
  plan.env["BERTH_DEPLOYMENT"] = in.deployment;
  plan.env["BERTH_INSTANCE"] = in.instance;
  return plan;
}

}  // namespace berth::core
