#pragma once
// PlanLaunch: the command line and environment of one instance of a deployment, for each kind
// of serving process (docs/yaml.md, "Which process serves a deployment"). Pure; berthd's
// supervisor uses it (also for `--local`, which runs on a berthd of its own).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/spec.h"

namespace berth::core {

struct LaunchInputs {
  int port = 0;
  std::string app_dir;        // the instance's copy of the code folder (its working directory)
  std::string model_dir;      // AZUREML_MODEL_DIR, "" when the deployment has no model
  std::string mlflow_folder;  // MLflow mode: the model's folder name inside model_dir
  std::string python;         // interpreter when the deployment names none
  std::string python_dir;     // berth's Python packages (berth_runner and the Azure shims)
  std::string endpoint;
  std::string deployment;
  std::string instance;
  // berth-worker deployments (triton_model, MLflow xgboost):
  std::string worker;          // the berth-worker executable
  int grpc_port = 0;           // its OIP gRPC port
  bool native_mlflow = false;  // an MLflow model whose flavor berth-worker serves (xgboost)
  // Private transport (docs/architecture.md, "Instance sandbox"): the folder where berth's own
  // servers (the runner, berth-worker) listen on Unix sockets instead of ports. "" = ports.
  std::string socket_dir;
  // A custom command in its own network namespace: socat relays <socket_dir>/http.sock to the
  // command's port, so berthd reaches it without any port on the host.
  bool relay_command_port = false;
  // A batch worker (docs/batch.md, "Worker protocol"): berth_runner.batch calls the scoring
  // script's run() for mini-batches sent over <socket_dir>/batch.sock instead of serving HTTP.
  struct BatchWorker {
    std::string output_dir;     // AZUREML_BI_OUTPUT_PATH
    std::string output_action;  // append_row | summary_only
    std::string logging_level;  // warning | info | debug
    int node = 0;
    int process = 0;
  };
  std::optional<BatchWorker> batch;
};

// Unix socket names in LaunchInputs::socket_dir (docs/runner-protocol.md for the runner's).
inline constexpr char kHttpSocketName[] = "http.sock";
inline constexpr char kGrpcSocketName[] = "grpc.sock";
inline constexpr char kRunnerControlSocketName[] = "control.sock";
inline constexpr char kBatchSocketName[] = "batch.sock";

// An instance's logs, in <instance_dir>/logs, named after the Azure containers whose logs
// `get-logs --container` shows: the server's output, and how its model and code were put in place.
inline constexpr char kInferenceServerLog[] = "inference-server.log";
inline constexpr char kStorageInitializerLog[] = "storage-initializer.log";
std::string RunnerWorkerSocketName(int index);  // "worker-<index>.sock"

// The runner's worker processes: WORKER_COUNT as the runner reads it (1 when absent or not a
// positive number; the runner then refuses to start and says why).
int RunnerWorkerCount(const DeploymentSpec& spec);

// Whether berth-worker serves the deployment (given what the model's files say for MLflow).
bool ServedByWorker(const DeploymentSpec& spec, bool native_mlflow);

struct LaunchPlan {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to the parent's environment
};

LaunchPlan PlanLaunch(const DeploymentSpec& spec, const LaunchInputs& in);

}  // namespace berth::core
