#pragma once
// LocalWorkerLauncher: batch workers as sandboxed local instances. It starts each through the
// launcher online deployments use (controlplane/supervisor/launcher.h, with a batch role: the
// job's input read-only, its output writable, berth_runner.batch as the program), waits for
// the worker's socket (init() done), and speaks the batch frames of docs/batch.md ("Worker
// protocol") over it.
//
// Threading: as WorkerLauncher. It collects process exits from the driver when asked (ExitOf),
// so it must be the driver's only consumer of PollExits.

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "batch/batch_worker.h"
#include "compute/compute_driver.h"
#include "controlplane/supervisor/launcher.h"

namespace berth::batch {

class LocalWorkerLauncher final : public WorkerLauncher {
 public:
  LocalWorkerLauncher(controlplane::Launcher& launcher, compute::ComputeDriver& driver);
  LocalWorkerLauncher(const LocalWorkerLauncher&) = delete;
  LocalWorkerLauncher& operator=(const LocalWorkerLauncher&) = delete;

  absl::StatusOr<std::unique_ptr<BatchWorker>> Start(const WorkerPlan& plan,
                                                     const std::atomic<bool>& abandon) override;

  // How the process `id` ended, once it has (kept until Forget).
  std::optional<compute::ExitInfo> ExitOf(compute::InstanceId id);
  void Forget(compute::InstanceId id);
  compute::ComputeDriver& driver() { return driver_; }

 private:
  controlplane::Launcher& launcher_;
  compute::ComputeDriver& driver_;
  std::mutex mu_;
  std::map<compute::InstanceId, compute::ExitInfo> exits_;
};

// Describes how a process ended: "exit status 3", "signal 9", with the limit when known.
std::string DescribeExit(const compute::ExitInfo& exit);

}  // namespace berth::batch
