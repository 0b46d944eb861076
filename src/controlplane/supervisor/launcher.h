#pragma once
// Launcher: starts one instance of a deployment. It prepares the instance folder (code copied
// in, model laid out), plans the command line (core/launch_plan.h), picks ports and asks the
// ComputeDriver to start the process. LocalLauncher is the implementation; supervisor tests use
// it over FakeComputeDriver and a temporary folder.
//
// Threading: Launch() blocks (file copies, the spawn) and may run concurrently for different
// instances; the supervisor calls it only on its blocking executor.
// Errors: a launch that fails is a LaunchResult whose `process` holds the reason; the reason is
// also appended to the instance's log ("berth: ..."), where users look.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "compute/compute_driver.h"
#include "controlplane/artifact_store.h"
#include "controlplane/model_registry.h"
#include "core/spec.h"

namespace berth::controlplane {

// A batch job's worker (docs/batch.md, "Worker protocol"): the instance runs the scoring
// script's run() for mini-batches sent over its socket, with the job's input shown read-only
// and its output folder writable.
struct BatchWorkerRequest {
  std::filesystem::path input;  // a folder, or one file (uri_file)
  bool input_is_file = false;
  std::filesystem::path output;  // AZUREML_BI_OUTPUT_PATH
  std::string output_action;     // append_row | summary_only
  std::string logging_level;
  int node = 0;
  int process = 0;
  std::filesystem::path log_file;  // instead of <instance_dir>/logs/inference-server.log
};

struct LaunchRequest {
  std::string endpoint;
  std::string deployment;
  int64_t instance_id = 0;
  core::DeploymentSpec spec;
  std::filesystem::path instance_dir;  // <data-dir>/instances/<endpoint>/<deployment>/<id>
  std::optional<BatchWorkerRequest> batch;
};

// How berthd reaches an instance (docs/architecture.md, "Instance sandbox"): berth's own
// servers always over Unix sockets in the instance's socket folder; a custom command through
// its relay socket when it has a network namespace of its own, else on its TCP port.
struct InstanceEndpoints {
  int port = 0;                             // TCP on 127.0.0.1, when no socket is set
  int grpc_port = 0;                        // berth-worker over TCP (unused with sockets)
  std::string http_socket;                  // HTTP/1.1 (berth-worker, custom-command relay)
  std::string grpc_socket;                  // OIP gRPC (berth-worker)
  std::vector<std::string> runner_sockets;  // the runner's workers (berth runner frames)
  std::string runner_control_socket;        // the runner's health
  std::string batch_socket;                 // a batch worker (berth batch frames)
  // A batch worker: the folder its run() sees the input in (inside the sandbox, or on the
  // host with --sandbox=none); a uri_file input is the one file in it.
  std::string batch_input_root;
};

struct LaunchResult {
  absl::StatusOr<compute::InstanceId> process = absl::UnknownError("not launched");
  InstanceEndpoints endpoints;
  bool native = false;  // served by berth-worker (speaks the Open Inference Protocol)
  std::filesystem::path log_file;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual LaunchResult Launch(const LaunchRequest& request) = 0;
};

struct LocalLauncherOptions {
  std::string python = "/usr/bin/python3";  // interpreter for scoring scripts and MLflow
  std::filesystem::path python_dir;         // berth's Python packages (berth_runner)
  std::filesystem::path worker;             // the berth-worker executable
  // Where each instance gets a socket folder (<socket_root>/<n>, mode 0700); only berthd's
  // user may open socket_root. Empty: berth's servers listen on TCP ports (tests of the
  // launcher without sockets).
  std::filesystem::path socket_root;
  // Run instances in a sandbox (compute_driver.h, SandboxSpec); false is --sandbox=none.
  bool sandbox = false;
  // The sandbox may have its own network with outbound access (berthd runs as root); without
  // it, instances with egress enabled share the host's network.
  bool user_mode_network = true;
  // The instance user, when berthd switches to one (root): owns the instance's writable
  // folders (sockets, /tmp).
  std::optional<std::pair<uid_t, gid_t>> instance_owner;
};

class LocalLauncher final : public Launcher {
 public:
  // `models` may be null (then `azureml:` model references cannot launch).
  LocalLauncher(ArtifactStore& artifacts, ModelRegistry* models, compute::ComputeDriver& driver,
                LocalLauncherOptions options);
  LaunchResult Launch(const LaunchRequest& request) override;

 private:
  ArtifactStore& artifacts_;
  ModelRegistry* models_;
  compute::ComputeDriver& driver_;
  LocalLauncherOptions options_;
  // A restarted instance keeps its socket folder: instance folder -> number.
  std::mutex socket_folders_mu_;
  std::map<std::string, uint64_t> socket_folders_;
  uint64_t next_socket_folder_ = 1;
};

// Appends one line to an instance's log (creating its folder). Blocking.
void AppendInstanceLog(const std::filesystem::path& log_file, const std::string& line);

}  // namespace berth::controlplane
