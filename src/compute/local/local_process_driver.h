#pragma once
// LocalProcessDriver: instances as child processes of berthd, each the leader of its own
// session and process group so that stopping an instance stops everything it started.
//
// One background thread per driver forks the children (the parent-death signal that kills an
// instance when berthd dies is tied to the forking thread, so that thread must outlive them),
// copies their output into the log files, reaps exits and enforces stop deadlines.
// Every running instance is also recorded under `registry_dir` so that the next berthd can
// kill what a crashed one left behind (SweepOrphans).

#include <sys/types.h>

#include <array>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "compute/compute_driver.h"
#include "compute/local/cgroups.h"
#include "compute/local/orphan_registry.h"
#include "compute/local/rotating_log.h"
#include "compute/local/sandbox_command.h"
#include "compute/local/spawn.h"

namespace berth::compute {

struct LocalProcessDriverOptions {
  // Where running instances are recorded; created on first use. Empty disables the records.
  std::filesystem::path registry_dir;
  // How to sandbox instances whose LaunchSpec asks for it; without it such a Start() fails.
  std::optional<local::SandboxHost> sandbox;
  std::string slirp4netns = "/usr/bin/slirp4netns";  // SandboxNetwork::kUserMode
  // Whether to apply LaunchSpec::limits with cgroups (else RLIMIT_AS for memory).
  bool use_cgroups = true;
};

class LocalProcessDriver final : public ComputeDriver {
 public:
  using Options = LocalProcessDriverOptions;

  explicit LocalProcessDriver(Options options);
  // Kills every running instance (KillAll) and stops the background thread.
  ~LocalProcessDriver() override;
  LocalProcessDriver(const LocalProcessDriver&) = delete;
  LocalProcessDriver& operator=(const LocalProcessDriver&) = delete;

  // Returns once the program has been exec'd. Besides the FAILED_PRECONDITION for a program
  // that cannot be executed (or a missing working directory), an invalid spec is
  // INVALID_ARGUMENT. The log file and its folder are created if needed.
  absl::StatusOr<InstanceId> Start(const LaunchSpec& spec) override;
  void Stop(InstanceId id, std::chrono::milliseconds grace) override;
  // An exit is reported only after the output the instance wrote before exiting is in its
  // log file. When the leader exits, the rest of its process group is killed.
  std::vector<ExitInfo> PollExits() override;
  void KillAll() override;

  // Kills the processes recorded by an earlier berthd that did not stop them (see
  // local::OrphanRegistry::Sweep) and clears their records. Call at startup, before Start;
  // this driver's own instances are left alone. Returns how many instances were killed.
  absl::StatusOr<int> SweepOrphans();

  // Also the instance's process group id.
  std::optional<int> Pid(InstanceId id) const override;
  // From the instance's cgroup when it has one, else summed over its processes (its session,
  // and its sandbox's PID namespace); see local/resource_usage.h.
  absl::StatusOr<ResourceUsage> Usage(InstanceId id) override;

  // Test-only: forgets a running instance without stopping it or deleting its record, as if
  // berthd had crashed. The caller becomes responsible for the process (and reaping it).
  std::optional<pid_t> ReleaseForTest(InstanceId id);

 private:
  // Real time on purpose: these deadlines are when signals reach real processes.
  using Deadline = std::chrono::steady_clock::time_point;

  struct Instance {
    InstanceId id = 0;
    pid_t pid = -1;            // the leader: the program, or bwrap when sandboxed
    pid_t sandbox_pid = -1;    // sandboxed: the sandbox's pid 1 (tini), which gets SIGTERM
    pid_t network_pid = -1;    // slirp4netns serving the sandbox's network, if any
    int network_exit_fd = -1;  // closing it stops slirp4netns
    std::optional<local::InstanceGroup> group;
    bool address_space_limited = false;  // RLIMIT_AS stands in for a memory limit
    std::filesystem::path log_file;
    int pidfd = -1;      // readable once the leader exits; -1 without pidfd support
    int output_fd = -1;  // read end of stdout+stderr; -1 once closed
    std::unique_ptr<local::RotatingLogFile> log;
    bool exited = false;              // reaped and queued for PollExits
    std::optional<Deadline> kill_at;  // SIGKILL then, set by Stop
    Deadline close_output_at{};       // after the exit, stop waiting for EOF then
    Deadline output_quiet_until{};    // the pipe is not polled before then (kOutputBatch)
  };
  struct SpawnRequest;

  void PumpLoop();
  void RunSpawnRequests();
  void Wake();
  int PollTimeoutMsLocked(Deadline now) const;
  // Copies available output into the log, at most `max_bytes`; closes the pipe at EOF.
  void PumpOutputLocked(Instance& instance, size_t max_bytes);
  // Reaps the leader if it exited (waiting for it when `block`), kills the rest of its group,
  // drains its output and queues the exit. Returns whether it has exited.
  bool TryReapLocked(Instance& instance, bool block);
  void HandleDeadlinesLocked(Deadline now);
  void CloseInstanceFdsLocked(Instance& instance);
  // Sandboxed spawns: learns the sandbox's pid 1 from bwrap and, for user-mode networking,
  // starts slirp4netns and lets the sandbox go on once its network is up. Blocking (spawn
  // thread). On error the caller kills the sandbox.
  absl::Status FinishSandboxStart(const local::SpawnedProcess& spawned, bool user_mode_network,
                                  Instance& instance, std::string* log_note);
  // Why the instance ended, when a limit ended it ("" otherwise).
  static std::string LimitThatEnded(const Instance& instance, const ExitInfo& exit);

  const Options options_;
  local::InstanceCgroups cgroups_;
  local::OrphanRegistry registry_;
  int wake_fd_ = -1;  // eventfd; -1 if it could not be created (the pump then ticks)

  mutable std::mutex mu_;
  std::map<InstanceId, Instance> instances_;  // running, or exited with output still open
  std::vector<ExitInfo> exits_;               // not yet returned by PollExits
  std::deque<std::shared_ptr<SpawnRequest>> spawn_queue_;
  InstanceId next_id_ = 1;
  bool stopping_ = false;
  std::array<char, 64 * 1024> read_buffer_;  // used under mu_

  std::thread pump_;  // last: started once everything above is initialized
};

}  // namespace berth::compute
