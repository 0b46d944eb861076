#pragma once
// The process of a `--local` deployment: started detached so that it outlives the CLI, and
// recognised later by its pid *and* its start time (/proc/<pid>/stat field 22), so that a later
// command never signals a process that merely reuses the pid.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "compute/local/orphan_registry.h"
#include "compute/local/spawn.h"

namespace berth::cli {

struct ProcessIdentity {
  int pid = 0;              // 0: no process
  int pgid = 0;             // its own process group (== pid)
  int sid = 0;              // its session (the short-lived middle process made it)
  uint64_t start_time = 0;  // clock ticks after boot, /proc/<pid>/stat field 22
  bool operator==(const ProcessIdentity&) const = default;
};

// /proc/<pid>/stat, read the same way the server's orphan sweep reads it.
using compute::local::ProcStat;
using compute::local::ReadProcStat;

// True while the recorded process runs: it exists, is no zombie, and started when recorded.
bool IsRunning(const ProcessIdentity& id);

// Running processes of the recorded group (same process group and session), the leader
// included.
std::vector<int> GroupMembers(const ProcessIdentity& id);

// Starts `plan` detached: fork, setsid, fork again; the grandchild makes its own process group,
// changes to plan.working_dir, reads /dev/null, appends stdout and stderr to `log_file` and
// execs plan.program with plan.env. Returns once the exec succeeded. Until the CLI exits it is
// the grandchild's parent (a child subreaper), so ProcessStatus can tell how it ended.
// A program that cannot run is FAILED_PRECONDITION naming it (the line also goes to the log).
absl::StatusOr<ProcessIdentity> StartDetached(const compute::local::SpawnPlan& plan,
                                              const std::filesystem::path& log_file);

struct ProcessStatus {
  bool running = false;
  // When not running: "exited with code 3", "was killed by signal 9" (known when this CLI run
  // started it), else "is no longer running".
  std::string exit_text;
};

// Whether the recorded process runs; reaps it when it was started by this CLI run and ended.
ProcessStatus CheckProcess(const ProcessIdentity& id);

// How StopProcessGroup waits.
struct StopEnv {
  const Clock* clock = &SystemClock::Get();
  std::function<void(std::chrono::milliseconds)> sleep;  // required
  std::chrono::milliseconds interval{50};
};

// SIGTERM to the recorded process group, SIGKILL after `grace` if a member still runs, then
// waits until none runs. Nothing is signalled when neither the leader (pid and start time) nor
// a member of its group and session runs. INTERNAL when processes survive SIGKILL.
absl::Status StopProcessGroup(const ProcessIdentity& id, std::chrono::milliseconds grace,
                              const StopEnv& env);

}  // namespace berth::cli
