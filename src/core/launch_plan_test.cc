#include "core/launch_plan.h"

#include "gtest/gtest.h"

namespace berth::core {
namespace {

LaunchInputs Inputs() {
  LaunchInputs in;
  in.port = 4321;
  in.app_dir = "/data/instances/e/d/1/app";
  in.model_dir = "/data/models/m/1/";
  in.python = "/usr/bin/python3";
  in.python_dir = "/opt/berth/python";
  in.endpoint = "e";
  in.deployment = "d";
  in.instance = "1";
  return in;
}

TEST(PlanLaunchTest, CustomCommandSubstitutesPort) {
  DeploymentSpec spec;
  spec.environment.command = {"serve", "--port={port}", "--admin", "{port}"};
  spec.environment_variables = {{"PORT", "1"}, {"WORKER_COUNT", "2"}};
  LaunchPlan plan = PlanLaunch(spec, Inputs());
  EXPECT_EQ(plan.argv, (std::vector<std::string>{"serve", "--port=4321", "--admin", "4321"}));
  EXPECT_EQ(plan.env["PORT"], "4321");  // berth's wiring wins over the deployment's
  EXPECT_EQ(plan.env["WORKER_COUNT"], "2");
  EXPECT_EQ(plan.env["AZUREML_MODEL_DIR"], "/data/models/m/1/");
  EXPECT_EQ(plan.env["BERTH_INSTANCE"], "1");
  EXPECT_EQ(plan.env.count("PYTHONPATH"), 0u);
}

TEST(PlanLaunchTest, ScoringScriptRunsTheRunner) {
  DeploymentSpec spec;
  spec.code_configuration = CodeConfiguration{"./src", std::nullopt, "sub/score.py"};
  spec.environment_variables = {{"PYTHONPATH", "/extra"}, {"WORKER_COUNT", "2"}};
  LaunchPlan plan = PlanLaunch(spec, Inputs());
  EXPECT_EQ(plan.argv,
            (std::vector<std::string>{"/usr/bin/python3", "-m", "berth_runner", "--port", "4321"}));
  EXPECT_EQ(plan.env["AZUREML_ENTRY_SCRIPT"], "sub/score.py");
  EXPECT_EQ(plan.env["AML_APP_ROOT"], "/data/instances/e/d/1/app");
  EXPECT_EQ(plan.env["PYTHONPATH"], "/opt/berth/python:/extra");
  EXPECT_EQ(plan.env["WORKER_COUNT"], "2");
}

TEST(PlanLaunchTest, DeploymentInterpreterWins) {
  DeploymentSpec spec;
  spec.code_configuration = CodeConfiguration{"./src", std::nullopt, "score.py"};
  spec.environment.python = "/opt/venv/bin/python";
  EXPECT_EQ(PlanLaunch(spec, Inputs()).argv.front(), "/opt/venv/bin/python");
}

TEST(PlanLaunchTest, MlflowModeNamesTheModelFolder) {
  DeploymentSpec spec;
  spec.model = ModelSpec{};
  spec.model->type = "mlflow_model";
  LaunchInputs in = Inputs();
  in.mlflow_folder = "sklearn-model";
  LaunchPlan plan = PlanLaunch(spec, in);
  EXPECT_EQ(plan.argv[2], "berth_runner");
  EXPECT_EQ(plan.env["MLFLOW_MODEL_FOLDER"], "sklearn-model");
  EXPECT_EQ(plan.env.count("AZUREML_ENTRY_SCRIPT"), 0u);
}

TEST(PlanLaunchTest, TritonModelRunsTheWorker) {
  DeploymentSpec spec;
  spec.model = ModelSpec{};
  spec.model->type = "triton_model";
  spec.environment_variables = {{"BERTH_INTRA_OP_THREADS", "2"}};
  LaunchInputs in = Inputs();
  in.worker = "/opt/berth/berth-worker";
  in.grpc_port = 4322;
  ASSERT_TRUE(ServedByWorker(spec, false));
  LaunchPlan plan = PlanLaunch(spec, in);
  EXPECT_EQ(plan.argv, (std::vector<std::string>{"/opt/berth/berth-worker", "--host", "127.0.0.1",
                                                 "--http-port", "4321", "--grpc-port", "4322",
                                                 "--model-repository", "/data/models/m/1/",
                                                 "--intra-op-threads", "2"}));
  EXPECT_EQ(plan.env.count("PYTHONPATH"), 0u);
  EXPECT_EQ(RoutesFor(spec).readiness_path, "/v2/health/ready");
}

TEST(PlanLaunchTest, XgboostMlflowModelRunsTheWorker) {
  DeploymentSpec spec;
  spec.model = ModelSpec{};
  spec.model->type = "mlflow_model";
  LaunchInputs in = Inputs();
  in.worker = "/opt/berth/berth-worker";
  in.grpc_port = 4322;
  in.mlflow_folder = "model";
  in.native_mlflow = true;
  LaunchPlan plan = PlanLaunch(spec, in);
  EXPECT_EQ(plan.argv, (std::vector<std::string>{"/opt/berth/berth-worker", "--host", "127.0.0.1",
                                                 "--http-port", "4321", "--grpc-port", "4322",
                                                 "--mlflow-model", "/data/models/m/1/model"}));
  in.native_mlflow = false;
  EXPECT_EQ(PlanLaunch(spec, in).argv[1], "-m");  // other flavors: the Python runner
}

TEST(PlanLaunchTest, PrivateTransportUsesTheSocketFolder) {
  LaunchInputs in = Inputs();
  in.socket_dir = "/run/berth";

  DeploymentSpec script;
  script.code_configuration = CodeConfiguration{"./src", std::nullopt, "score.py"};
  LaunchPlan runner = PlanLaunch(script, in);
  EXPECT_EQ(runner.argv, (std::vector<std::string>{"/usr/bin/python3", "-m", "berth_runner",
                                                   "--socket-dir", "/run/berth"}));
  EXPECT_EQ(runner.env["BERTH_SOCKET_DIR"], "/run/berth");

  DeploymentSpec triton;
  triton.model = ModelSpec{};
  triton.model->type = "triton_model";
  in.worker = "/var/lib/berth/bin/berth-worker";
  LaunchPlan worker = PlanLaunch(triton, in);
  EXPECT_EQ(
      std::vector<std::string>(worker.argv.begin(), worker.argv.begin() + 5),
      (std::vector<std::string>{"/var/lib/berth/bin/berth-worker", "--http-socket",
                                "/run/berth/http.sock", "--grpc-socket", "/run/berth/grpc.sock"}));

  DeploymentSpec custom;
  custom.environment.command = {"serve", "--port={port}"};
  in.relay_command_port = true;
  LaunchPlan relayed = PlanLaunch(custom, in);
  ASSERT_EQ(relayed.argv.size(), 6u);
  EXPECT_EQ(relayed.argv[0], "/bin/sh");
  EXPECT_NE(relayed.argv[2].find("socat UNIX-LISTEN:/run/berth/http.sock,fork,mode=600 "
                                 "TCP:127.0.0.1:4321"),
            std::string::npos);
  EXPECT_EQ(relayed.argv[4], "serve");
  EXPECT_EQ(relayed.argv[5], "--port=4321");
}

TEST(PlanLaunchTest, RunnerWorkerCountFollowsWorkerCount) {
  DeploymentSpec spec;
  EXPECT_EQ(RunnerWorkerCount(spec), 1);
  spec.environment_variables["WORKER_COUNT"] = "3";
  EXPECT_EQ(RunnerWorkerCount(spec), 3);
  spec.environment_variables["WORKER_COUNT"] = "three";
  EXPECT_EQ(RunnerWorkerCount(spec), 1);
  spec.environment_variables["WORKER_COUNT"] = "0";
  EXPECT_EQ(RunnerWorkerCount(spec), 1);
}

TEST(EffectiveRequestSettingsTest, WorkerDeploymentsDefaultToManyConcurrentRequests) {
  DeploymentSpec spec;
  EXPECT_EQ(EffectiveRequestSettings(spec, true).max_concurrent_requests_per_instance,
            kWorkerDefaultConcurrency);
  EXPECT_EQ(EffectiveRequestSettings(spec, false).max_concurrent_requests_per_instance, 1);
  spec.request_settings.max_concurrent_requests_per_instance = 3;
  spec.request_settings.max_concurrent_given = true;
  EXPECT_EQ(EffectiveRequestSettings(spec, true).max_concurrent_requests_per_instance, 3);
}

}  // namespace
}  // namespace berth::core

namespace berth::core {
namespace {

TEST(PlanLaunchTest, BatchWorkerRunsTheBatchRunnerOnItsSocket) {
  DeploymentSpec spec;
  spec.code_configuration = CodeConfiguration{"./code", std::nullopt, "batch_driver.py"};
  spec.environment_variables = {{"AZUREML_BI_OUTPUT_PATH", "/elsewhere"}, {"K", "V"}};
  LaunchInputs in = Inputs();
  in.socket_dir = "/run/berth";
  in.batch = LaunchInputs::BatchWorker{"/var/azureml-output", "append_row", "debug", 1, 2};
  LaunchPlan plan = PlanLaunch(spec, in);
  EXPECT_EQ(plan.argv,
            (std::vector<std::string>{"/usr/bin/python3", "-m", "berth_runner.batch", "--socket",
                                      "/run/berth/batch.sock", "--logging_level", "DEBUG", "--node",
                                      "1", "--process", "2"}));
  EXPECT_EQ(plan.env["AZUREML_ENTRY_SCRIPT"], "batch_driver.py");
  EXPECT_EQ(plan.env["AZUREML_BI_OUTPUT_PATH"], "/var/azureml-output");  // berth's wiring wins
  EXPECT_EQ(plan.env["BERTH_BATCH_OUTPUT_ACTION"], "append_row");
  EXPECT_EQ(plan.env["AZUREML_MODEL_DIR"], "/data/models/m/1/");
  EXPECT_EQ(plan.env["PYTHONPATH"], "/opt/berth/python");
  EXPECT_EQ(plan.env["K"], "V");
}

TEST(PlanLaunchTest, BatchWorkerOfAnMlflowModelNamesItsFolder) {
  DeploymentSpec spec;  // no script: an MLflow model
  LaunchInputs in = Inputs();
  in.socket_dir = "/run/berth";
  in.mlflow_folder = "heart-classifier";
  in.native_mlflow = true;  // xgboost: still the Python batch runner
  in.batch = LaunchInputs::BatchWorker{"/out", "summary_only", "info", 0, 0};
  LaunchPlan plan = PlanLaunch(spec, in);
  EXPECT_EQ(plan.argv[2], "berth_runner.batch");
  EXPECT_EQ(plan.env["BERTH_MLFLOW_MODEL_FOLDER"], "heart-classifier");
  EXPECT_EQ(plan.env["BERTH_BATCH_OUTPUT_ACTION"], "summary_only");
  EXPECT_EQ(plan.env.count("AZUREML_ENTRY_SCRIPT"), 0u);
}

}  // namespace
}  // namespace berth::core
