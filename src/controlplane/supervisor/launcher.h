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

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "compute/compute_driver.h"
#include "controlplane/artifact_store.h"
#include "controlplane/model_registry.h"
#include "core/spec.h"

namespace berth::controlplane {

struct LaunchRequest {
  std::string endpoint;
  std::string deployment;
  int64_t instance_id = 0;
  core::DeploymentSpec spec;
  std::filesystem::path instance_dir;  // <data-dir>/instances/<endpoint>/<deployment>/<id>
};

struct LaunchResult {
  absl::StatusOr<compute::InstanceId> process = absl::UnknownError("not launched");
  int port = 0;
  int grpc_port = 0;    // berth-worker instances only
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
};

// Appends one line to an instance's log (creating its folder). Blocking.
void AppendInstanceLog(const std::filesystem::path& log_file, const std::string& line);

}  // namespace berth::controlplane
