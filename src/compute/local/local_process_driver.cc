#include "compute/local/local_process_driver.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "compute/local/spawn.h"

namespace berth::compute {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Without pidfds (old kernels) exits are noticed by polling this often.
constexpr milliseconds kReapTick(20);
// After the leader exited and its group was killed, output still arriving on the pipe (from a
// process that escaped the group) is collected this long before the pipe is closed.
constexpr milliseconds kOutputLinger(2000);
// Per instance per round, so one chatty instance cannot starve the others.
constexpr size_t kRoundBytes = 256 * 1024;
// When reaping: what the leader wrote before exiting is all in the pipe (it cannot exit while
// blocked on a full pipe), so this bound only matters for stragglers still writing.
constexpr size_t kDrainBytes = 4 * 1024 * 1024;

// Debian 12's <sys/pidfd.h> lacks extern "C", so the wrapper cannot be linked from C++.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

struct LocalProcessDriver::SpawnRequest {
  local::SpawnPlan plan;
  std::string instance_key;
  std::unique_ptr<local::RotatingLogFile> log;
  std::promise<absl::StatusOr<InstanceId>> result;
};

LocalProcessDriver::LocalProcessDriver(Options options)
    : options_(std::move(options)), registry_(options_.registry_dir) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  pump_ = std::thread([this] { PumpLoop(); });
}

LocalProcessDriver::~LocalProcessDriver() {
  KillAll();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  Wake();
  pump_.join();
  std::lock_guard lock(mu_);
  for (auto& [id, instance] : instances_) {
    if (instance.output_fd >= 0) PumpOutputLocked(instance, kDrainBytes);
    CloseInstanceFdsLocked(instance);
  }
  instances_.clear();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

absl::StatusOr<InstanceId> LocalProcessDriver::Start(const LaunchSpec& spec) {
  auto request = std::make_shared<SpawnRequest>();
  ASSIGN_OR_RETURN(request->plan, local::PrepareSpawn(spec));
  ASSIGN_OR_RETURN(request->log, local::RotatingLogFile::Open(spec.log_file, spec.max_log_bytes));
  request->instance_key = spec.instance_key;
  std::future<absl::StatusOr<InstanceId>> result = request->result.get_future();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::FailedPreconditionError("the compute driver is shutting down");
    spawn_queue_.push_back(std::move(request));
  }
  Wake();
  return result.get();
}

void LocalProcessDriver::Stop(InstanceId id, milliseconds grace) {
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(id);
    if (it == instances_.end() || it->second.exited) return;
    Instance& instance = it->second;
    // The leader is not reaped yet, so its pid is still our group's id.
    ::kill(-instance.pid, SIGTERM);
    Deadline deadline = steady_clock::now() + std::max(grace, milliseconds(0));
    if (!instance.kill_at || deadline < *instance.kill_at) instance.kill_at = deadline;
  }
  Wake();
}

std::vector<ExitInfo> LocalProcessDriver::PollExits() {
  std::lock_guard lock(mu_);
  for (auto& [id, instance] : instances_) TryReapLocked(instance, /*block=*/false);
  return std::exchange(exits_, {});
}

void LocalProcessDriver::KillAll() {
  std::lock_guard lock(mu_);
  for (auto& [id, instance] : instances_) {
    if (!instance.exited) ::kill(-instance.pid, SIGKILL);
  }
  for (auto& [id, instance] : instances_) TryReapLocked(instance, /*block=*/true);
}

absl::StatusOr<int> LocalProcessDriver::SweepOrphans() {
  std::set<pid_t> own;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, instance] : instances_) {
      if (!instance.exited) own.insert(instance.pid);
    }
  }
  return registry_.Sweep(own);
}

std::optional<int> LocalProcessDriver::Pid(InstanceId id) const {
  std::lock_guard lock(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end() || it->second.exited) return std::nullopt;
  return it->second.pid;
}

std::optional<pid_t> LocalProcessDriver::ReleaseForTest(InstanceId id) {
  std::lock_guard lock(mu_);
  auto it = instances_.find(id);
  if (it == instances_.end() || it->second.exited) return std::nullopt;
  pid_t pid = it->second.pid;
  CloseInstanceFdsLocked(it->second);
  instances_.erase(it);
  return pid;
}

void LocalProcessDriver::Wake() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void LocalProcessDriver::PumpLoop() {
  std::vector<pollfd> fds;
  std::vector<InstanceId> owners;  // owners[i] for fds[i], i >= 1
  while (true) {
    int timeout_ms;
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
      fds.clear();
      owners.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      owners.push_back(0);
      for (const auto& [id, instance] : instances_) {
        if (instance.output_fd >= 0) {
          fds.push_back({instance.output_fd, POLLIN, 0});
          owners.push_back(id);
        }
        if (!instance.exited && instance.pidfd >= 0) {
          fds.push_back({instance.pidfd, POLLIN, 0});
          owners.push_back(id);
        }
      }
      timeout_ms = PollTimeoutMsLocked(steady_clock::now());
    }
    int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) ready = 0;
    if (wake_fd_ >= 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t count;
      ssize_t ignored = ::read(wake_fd_, &count, sizeof(count));
      (void)ignored;
    }
    RunSpawnRequests();

    std::lock_guard lock(mu_);
    for (size_t i = 1; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      // The instance may have changed while we polled; match the descriptor, not the slot.
      auto it = instances_.find(owners[i]);
      if (it == instances_.end()) continue;
      Instance& instance = it->second;
      if (fds[i].fd == instance.output_fd) {
        PumpOutputLocked(instance, kRoundBytes);
      } else if (fds[i].fd == instance.pidfd) {
        TryReapLocked(instance, /*block=*/false);
      }
    }
    for (auto& [id, instance] : instances_) {
      if (!instance.exited && instance.pidfd < 0) TryReapLocked(instance, /*block=*/false);
    }
    HandleDeadlinesLocked(steady_clock::now());
    std::erase_if(instances_, [](const auto& entry) {
      return entry.second.exited && entry.second.output_fd < 0;
    });
  }
  // Start() calls still waiting are answered rather than left hanging.
  std::lock_guard lock(mu_);
  for (auto& request : spawn_queue_) {
    request->result.set_value(absl::FailedPreconditionError("the compute driver is shutting down"));
  }
  spawn_queue_.clear();
}

void LocalProcessDriver::RunSpawnRequests() {
  while (true) {
    std::shared_ptr<SpawnRequest> request;
    {
      std::lock_guard lock(mu_);
      if (spawn_queue_.empty()) return;
      request = std::move(spawn_queue_.front());
      spawn_queue_.pop_front();
    }
    // Forked here, on the pump thread, which lives as long as the instances: the child's
    // parent-death signal fires when the forking *thread* exits.
    std::string child_output;
    absl::StatusOr<local::SpawnedProcess> spawned = local::ForkExec(request->plan, &child_output);
    if (!spawned.ok()) {
      if (!child_output.empty()) request->log->Append(child_output);
      request->result.set_value(spawned.status());
      continue;
    }
    absl::Status recorded = registry_.Record(spawned->pid, request->instance_key);
    if (!recorded.ok()) {
      ::kill(-spawned->pid, SIGKILL);
      while (::waitpid(spawned->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      ::close(spawned->output_fd);
      request->result.set_value(recorded);
      continue;
    }
    InstanceId id;
    {
      std::lock_guard lock(mu_);
      id = next_id_++;
      Instance& instance = instances_[id];
      instance.id = id;
      instance.pid = spawned->pid;
      instance.pidfd = PidfdOpen(spawned->pid);
      instance.output_fd = spawned->output_fd;
      instance.log = std::move(request->log);
    }
    request->result.set_value(id);
  }
}

int LocalProcessDriver::PollTimeoutMsLocked(Deadline now) const {
  std::optional<Deadline> next;
  auto consider = [&](Deadline deadline) {
    if (!next || deadline < *next) next = deadline;
  };
  if (wake_fd_ < 0) consider(now + kReapTick);
  for (const auto& [id, instance] : instances_) {
    if (!instance.exited) {
      if (instance.kill_at) consider(*instance.kill_at);
      if (instance.pidfd < 0) consider(now + kReapTick);
    } else if (instance.output_fd >= 0) {
      consider(instance.close_output_at);
    }
  }
  if (!next) return -1;
  if (*next <= now) return 0;
  // Rounded up so the loop does not wake just before the deadline.
  auto wait = std::chrono::ceil<milliseconds>(*next - now);
  return static_cast<int>(std::min<int64_t>(wait.count(), 60'000));
}

void LocalProcessDriver::PumpOutputLocked(Instance& instance, size_t max_bytes) {
  size_t total = 0;
  while (instance.output_fd >= 0 && total < max_bytes) {
    ssize_t n = ::read(instance.output_fd, read_buffer_.data(), read_buffer_.size());
    if (n > 0) {
      instance.log->Append(std::string_view(read_buffer_.data(), static_cast<size_t>(n)));
      total += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // EOF: every writer (the instance and anything it started) is gone.
    ::close(instance.output_fd);
    instance.output_fd = -1;
  }
}

bool LocalProcessDriver::TryReapLocked(Instance& instance, bool block) {
  if (instance.exited) return true;
  siginfo_t info{};
  int flags = WEXITED | WNOWAIT | (block ? 0 : WNOHANG);
  int result;
  do {
    result = ::waitid(P_PID, static_cast<id_t>(instance.pid), &info, flags);
  } while (result < 0 && errno == EINTR);
  ExitInfo exit;
  exit.id = instance.id;
  if (result == 0) {
    if (info.si_pid == 0) return false;  // still running
    // The unreaped leader keeps the group id from being reused, so this cannot hit anyone
    // else: whatever the instance started dies with it.
    ::kill(-instance.pid, SIGKILL);
    int status = 0;
    while (::waitpid(instance.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) exit.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) exit.signal = WTERMSIG(status);
  } else if (errno != ECHILD) {
    return false;
  }
  // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN); its status is unknown.
  PumpOutputLocked(instance, kDrainBytes);
  registry_.Remove(instance.pid);
  if (instance.pidfd >= 0) ::close(instance.pidfd);
  instance.pidfd = -1;
  instance.exited = true;
  instance.kill_at.reset();
  instance.close_output_at = steady_clock::now() + kOutputLinger;
  exits_.push_back(exit);
  return true;
}

void LocalProcessDriver::HandleDeadlinesLocked(Deadline now) {
  for (auto& [id, instance] : instances_) {
    if (!instance.exited && instance.kill_at && *instance.kill_at <= now) {
      ::kill(-instance.pid, SIGKILL);
      instance.kill_at.reset();
    } else if (instance.exited && instance.output_fd >= 0 && instance.close_output_at <= now) {
      PumpOutputLocked(instance, kDrainBytes);
      CloseInstanceFdsLocked(instance);
    }
  }
}

void LocalProcessDriver::CloseInstanceFdsLocked(Instance& instance) {
  if (instance.output_fd >= 0) ::close(instance.output_fd);
  if (instance.pidfd >= 0) ::close(instance.pidfd);
  instance.output_fd = -1;
  instance.pidfd = -1;
}

}  // namespace berth::compute
