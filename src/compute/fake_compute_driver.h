#pragma once
// FakeComputeDriver: a ComputeDriver without processes, for control-plane unit tests. It
// records what it was asked to do; the test decides when instances exit.
//
// Thread-safety: every method may be called concurrently.

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "compute/compute_driver.h"

namespace berth::compute {

class FakeComputeDriver final : public ComputeDriver {
 public:
  struct StartCall {
    InstanceId id = 0;  // 0 when the start failed
    LaunchSpec spec;
  };
  struct StopCall {
    InstanceId id = 0;
    std::chrono::milliseconds grace{0};
  };

  absl::StatusOr<InstanceId> Start(const LaunchSpec& spec) override;
  // Recorded; the instance exits (signal SIGTERM) at once when exit_on_stop is set (the
  // default), else it keeps running until SimulateExit.
  void Stop(InstanceId id, std::chrono::milliseconds grace) override;
  std::vector<ExitInfo> PollExits() override;
  // Every running instance exits with SIGKILL.
  void KillAll() override;
  // A made-up pid (kFakePidBase + id) while the instance runs.
  std::optional<int> Pid(InstanceId id) const override;
  static constexpr int kFakePidBase = 100000;
  // What SetUsage set for a running instance (zero until then); NOT_FOUND when not running.
  absl::StatusOr<ResourceUsage> Usage(InstanceId id) override;

  // Makes the next Start calls fail with these statuses, in order (recorded with id 0).
  void FailNextStart(absl::Status status);
  void set_exit_on_stop(bool exit_on_stop);
  // Ends a running instance as if it exited with `exit_code` / was killed by `signal`.
  // Unknown or already ended ids are ignored.
  void SimulateExit(InstanceId id, int exit_code);
  void SimulateSignal(InstanceId id, int signal);
  // What Usage reports for an instance from now on.
  void SetUsage(InstanceId id, ResourceUsage usage);

  std::vector<StartCall> starts() const;
  std::vector<StopCall> stops() const;
  int kill_all_calls() const;
  bool IsRunning(InstanceId id) const;
  std::set<InstanceId> Running() const;
  // The spec an instance was started with.
  std::optional<LaunchSpec> SpecOf(InstanceId id) const;

 private:
  void EndLocked(InstanceId id, int exit_code, int signal);

  mutable std::mutex mu_;
  InstanceId next_id_ = 1;
  bool exit_on_stop_ = true;
  std::deque<absl::Status> start_failures_;
  std::vector<StartCall> starts_;
  std::vector<StopCall> stops_;
  int kill_all_calls_ = 0;
  std::map<InstanceId, LaunchSpec> running_;
  std::map<InstanceId, LaunchSpec> specs_;
  std::vector<ExitInfo> exits_;
  std::map<InstanceId, ResourceUsage> usage_;
};

}  // namespace berth::compute
