#include "compute/fake_compute_driver.h"

#include <signal.h>

#include <utility>

namespace berth::compute {

absl::StatusOr<InstanceId> FakeComputeDriver::Start(const LaunchSpec& spec) {
  std::lock_guard lock(mu_);
  if (!start_failures_.empty()) {
    absl::Status failure = std::move(start_failures_.front());
    start_failures_.pop_front();
    starts_.push_back({0, spec});
    return failure;
  }
  InstanceId id = next_id_++;
  starts_.push_back({id, spec});
  running_[id] = spec;
  specs_[id] = spec;
  return id;
}

void FakeComputeDriver::Stop(InstanceId id, std::chrono::milliseconds grace) {
  std::lock_guard lock(mu_);
  stops_.push_back({id, grace});
  if (exit_on_stop_) EndLocked(id, -1, SIGTERM);
}

std::vector<ExitInfo> FakeComputeDriver::PollExits() {
  std::lock_guard lock(mu_);
  return std::exchange(exits_, {});
}

void FakeComputeDriver::KillAll() {
  std::lock_guard lock(mu_);
  ++kill_all_calls_;
  while (!running_.empty()) EndLocked(running_.begin()->first, -1, SIGKILL);
}

std::optional<int> FakeComputeDriver::Pid(InstanceId id) const {
  std::lock_guard lock(mu_);
  if (running_.count(id) == 0) return std::nullopt;
  return kFakePidBase + static_cast<int>(id);
}

absl::StatusOr<ResourceUsage> FakeComputeDriver::Usage(InstanceId id) {
  std::lock_guard lock(mu_);
  if (running_.count(id) == 0) {
    return absl::NotFoundError("no running instance " + std::to_string(id));
  }
  auto it = usage_.find(id);
  return it == usage_.end() ? ResourceUsage{} : it->second;
}

void FakeComputeDriver::SetUsage(InstanceId id, ResourceUsage usage) {
  std::lock_guard lock(mu_);
  usage_[id] = usage;
}

void FakeComputeDriver::FailNextStart(absl::Status status) {
  std::lock_guard lock(mu_);
  start_failures_.push_back(std::move(status));
}

void FakeComputeDriver::set_exit_on_stop(bool exit_on_stop) {
  std::lock_guard lock(mu_);
  exit_on_stop_ = exit_on_stop;
}

void FakeComputeDriver::SimulateExit(InstanceId id, int exit_code) {
  std::lock_guard lock(mu_);
  EndLocked(id, exit_code, 0);
}

void FakeComputeDriver::SimulateSignal(InstanceId id, int signal) {
  std::lock_guard lock(mu_);
  EndLocked(id, -1, signal);
}

std::vector<FakeComputeDriver::StartCall> FakeComputeDriver::starts() const {
  std::lock_guard lock(mu_);
  return starts_;
}

std::vector<FakeComputeDriver::StopCall> FakeComputeDriver::stops() const {
  std::lock_guard lock(mu_);
  return stops_;
}

int FakeComputeDriver::kill_all_calls() const {
  std::lock_guard lock(mu_);
  return kill_all_calls_;
}

bool FakeComputeDriver::IsRunning(InstanceId id) const {
  std::lock_guard lock(mu_);
  return running_.count(id) > 0;
}

std::set<InstanceId> FakeComputeDriver::Running() const {
  std::lock_guard lock(mu_);
  std::set<InstanceId> ids;
  for (const auto& [id, spec] : running_) ids.insert(id);
  return ids;
}

std::optional<LaunchSpec> FakeComputeDriver::SpecOf(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = specs_.find(id);
  if (it == specs_.end()) return std::nullopt;
  return it->second;
}

void FakeComputeDriver::EndLocked(InstanceId id, int exit_code, int signal) {
  if (running_.erase(id) == 0) return;
  exits_.push_back({id, exit_code, signal});
}

}  // namespace berth::compute
