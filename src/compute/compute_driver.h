#pragma once
// ComputeDriver: starts, stops and observes instance processes. The control plane decides
// what should run (controlplane/reconciler.h); a driver only carries it out.
//
// First implementation: LocalProcessDriver (local/), child processes of berthd in their own
// process groups. A Kubernetes driver would implement the same contract.
//
// Thread-safety: all methods may be called concurrently.
// Ownership: the driver owns the processes; destroying it kills every instance still running.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::compute {

using InstanceId = uint64_t;

struct LaunchSpec {
  std::string instance_key;                // "<endpoint>/<deployment>/<n>", for messages
  std::vector<std::string> argv;           // argv[0] is looked up on PATH when it has no '/'
  std::map<std::string, std::string> env;  // added to berthd's environment, overriding it
  std::filesystem::path working_dir;       // must exist
  std::filesystem::path log_file;          // stdout and stderr, appended
  uint64_t max_log_bytes = 10ull << 20;    // past this the file rotates to "<log_file>.1"
};

struct ExitInfo {
  InstanceId id = 0;
  int exit_code = -1;  // when it exited normally, else -1
  int signal = 0;      // the signal that ended it, else 0
};

class ComputeDriver {
 public:
  virtual ~ComputeDriver() = default;

  // Spawns the instance and returns at once. A program that cannot be executed is
  // FAILED_PRECONDITION naming it.
  virtual absl::StatusOr<InstanceId> Start(const LaunchSpec& spec) = 0;

  // SIGTERM to the instance's process group now, SIGKILL after `grace` if still running.
  // Returns at once; the exit is reported by PollExits(). Unknown ids are ignored.
  virtual void Stop(InstanceId id, std::chrono::milliseconds grace) = 0;

  // Instances that exited since the last call, each reported once.
  virtual std::vector<ExitInfo> PollExits() = 0;

  // SIGKILL to every running instance's process group and waits for them (shutdown).
  virtual void KillAll() = 0;

  // The OS process id of a running instance, for views and diagnostics; nullopt if unknown.
  virtual std::optional<int> Pid(InstanceId id) const { return std::nullopt; }
};

// The last `lines` lines of a log file and of its rotated predecessor, oldest first.
// An absent file reads as "".
std::string TailLog(const std::filesystem::path& log_file, int lines);

// A TCP port on 127.0.0.1 that was free when asked (bind to port 0, read it, close).
absl::StatusOr<int> PickFreePort();

}  // namespace berth::compute
