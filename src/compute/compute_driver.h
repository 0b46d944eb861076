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

// A host folder or file made visible inside an instance's sandbox.
struct BindMount {
  std::filesystem::path source;  // on the host
  std::string target;            // absolute path inside the sandbox
  bool writable = false;
};

enum class SandboxNetwork {
  kNone,      // its own network namespace with only `lo`: no route, no DNS
  kUserMode,  // its own network namespace with outbound access through user-mode networking
              // (slirp4netns); nothing inbound; the host's loopback is 10.0.2.2. Needs a
              // privileged (root) berthd.
  kHost,      // the host's network (an unprivileged berthd's instances with egress enabled)
};

// How an instance is isolated (docs/architecture.md, "Instance sandbox"). The instance sees
// the system read-only (/usr, /etc, /opt, ...), a private /proc, /dev and IPC and PID
// namespaces, and of everything else only `binds`. Paths in LaunchSpec (argv, working_dir,
// env values) are then paths inside the sandbox.
struct SandboxSpec {
  std::vector<BindMount> binds;
  SandboxNetwork network = SandboxNetwork::kNone;
};

// Per-instance limits (`resources.limits`); 0 = none.
struct InstanceLimits {
  uint64_t memory_bytes = 0;
  int cpu_millis = 0;
};

struct LaunchSpec {
  std::string instance_key;       // "<endpoint>/<deployment>/<n>", for messages
  std::vector<std::string> argv;  // argv[0] is looked up on PATH when it has no '/'
  // The whole environment besides PATH (/usr/local/bin:/usr/bin:/bin), LANG and HOME, which
  // these override: berthd's own environment is never passed on.
  std::map<std::string, std::string> env;
  std::filesystem::path working_dir;     // must exist (inside the sandbox when sandboxed)
  std::filesystem::path log_file;        // stdout and stderr, appended
  uint64_t max_log_bytes = 10ull << 20;  // past this the file rotates to "<log_file>.1"
  std::optional<SandboxSpec> sandbox;    // nullopt: a plain child process (--sandbox=none)
  InstanceLimits limits;
};

struct ExitInfo {
  InstanceId id = 0;
  int exit_code = -1;  // when it exited normally, else -1
  int signal = 0;      // the signal that ended it, else 0
  // The limit that ended it, when the driver knows: "memory limit (cgroup)" or
  // "memory limit (RLIMIT_AS)"; else "".
  std::string limit;
};

// What an instance uses, all its processes together.
struct ResourceUsage {
  double cpu_seconds = 0;  // CPU time (user + system) since the instance started
  uint64_t rss_bytes = 0;  // memory in use now
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

  // What a running instance uses now. Blocking (reads /proc or the instance's cgroup): call it
  // from a blocking pool, never an event loop. NOT_FOUND for an unknown or exited instance.
  virtual absl::StatusOr<ResourceUsage> Usage(InstanceId id) = 0;
};

// The last `lines` lines of a log file and of its rotated predecessor, oldest first.
// An absent file reads as "".
std::string TailLog(const std::filesystem::path& log_file, int lines);

// A TCP port on 127.0.0.1 that was free when asked (bind to port 0, read it, close).
absl::StatusOr<int> PickFreePort();

}  // namespace berth::compute
