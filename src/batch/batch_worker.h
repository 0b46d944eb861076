#pragma once
// BatchWorker and WorkerLauncher: the scheduler's seam to the processes that call a scoring
// script's run() (docs/batch.md, "Worker protocol"). LocalWorkerLauncher (local/) starts
// sandboxed instances through the same launcher as online deployments; FakeWorkerLauncher
// (fake_batch_worker.h) stands in for scheduler tests.
//
// Threading: Start and Run block (process start, init(), a run() call) and are called from the
// scheduler's worker threads, one worker per thread. Stop may be called from any thread, also
// while Run blocks on the same worker: Run then returns promptly (UNAVAILABLE).
// Errors: Start: FAILED_PRECONDITION when the worker cannot start or its init() failed (the
// message says why and where the log is). Run: DEADLINE_EXCEEDED past the timeout (the worker
// must then be stopped), UNAVAILABLE when the worker died or was stopped, INTERNAL for a
// protocol error; a run() that raised is not an error here but a MiniBatchResult with `ok`
// false.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/batch_spec.h"
#include "nlohmann/json.hpp"

namespace berth::batch {

// What one worker process of a job needs.
struct WorkerPlan {
  std::string job;
  int slot = 0;  // 0-based; node = slot / max_concurrency_per_instance, process = the rest
  int node = 0;
  int process = 0;
  core::BatchDeploymentSpec deployment;
  core::EffectiveJobSettings settings;
  std::filesystem::path input;  // the job's input folder, or file (uri_file)
  bool input_is_file = false;
  std::filesystem::path output;        // AZUREML_BI_OUTPUT_PATH, on the host
  std::filesystem::path instance_dir;  // the worker's own folder (code copy, tmp)
  std::filesystem::path log_file;      // stdout and stderr
  // How long init() may take before the start counts as failed.
  std::chrono::milliseconds start_timeout{std::chrono::minutes(2)};
};

struct MiniBatchResult {
  bool ok = false;
  int64_t count = 0;               // elements run() returned
  std::vector<std::string> lines;  // append_row output, one per element
  std::string error;               // when !ok: "<Type>: <message>"
};

class BatchWorker {
 public:
  virtual ~BatchWorker() = default;
  // `files` relative to the input root; the worker passes them to run() as paths it can open.
  virtual absl::StatusOr<MiniBatchResult> Run(int64_t index, int attempt,
                                              const std::vector<std::string>& files,
                                              std::chrono::milliseconds timeout) = 0;
  // Stops the process (SIGTERM, then SIGKILL shortly after) and waits for it to be gone.
  virtual void Stop() = 0;
  // Interrupts a blocking Run or Start from another thread without waiting.
  virtual void Interrupt() = 0;
};

class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;
  // Starts a worker and returns once its init() finished. Returns CANCELLED (the process
  // stopped) as soon as `abandon` becomes true (preemption, cancel).
  virtual absl::StatusOr<std::unique_ptr<BatchWorker>> Start(const WorkerPlan& plan,
                                                             const std::atomic<bool>& abandon) = 0;
};

}  // namespace berth::batch
