#include "compute/local/local_process_driver.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "common/status_macros.h"
#include "compute/local/resource_usage.h"
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
// After copying an instance's output, its pipe is left alone this long, so an instance that
// writes a line per request (the runner's access log) costs this thread one wake-up per batch
// rather than one per line. A single line still reaches the log at once.
constexpr milliseconds kOutputBatch(20);
// When reaping: what the leader wrote before exiting is all in the pipe (it cannot exit while
// blocked on a full pipe), so this bound only matters for stragglers still writing.
constexpr size_t kDrainBytes = 4 * 1024 * 1024;

// Debian 12's <sys/pidfd.h> lacks extern "C", so the wrapper cannot be linked from C++.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// How long bwrap and slirp4netns may take to report that the sandbox is set up.
constexpr milliseconds kSandboxSetupTimeout(10'000);

// Reads from a blocking pipe until `done(text)` or end of stream or the deadline.
std::string ReadPipeUntil(int fd, const std::function<bool(const std::string&)>& done,
                          milliseconds timeout) {
  std::string text;
  auto deadline = steady_clock::now() + timeout;
  while (!done(text)) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buffer[512];
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Drains what a non-blocking pipe holds now.
std::string DrainNow(int fd) {
  std::string text;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// A cgroup folder name for an instance: unique per berthd process and launch.
std::string GroupName() {
  static std::atomic<uint64_t> next{1};
  return "i" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

}  // namespace

struct LocalProcessDriver::SpawnRequest {
  local::SpawnPlan plan;
  std::string instance_key;
  std::filesystem::path log_file;
  std::unique_ptr<local::RotatingLogFile> log;
  bool user_mode_network = false;
  std::optional<local::InstanceGroup> group;
  bool address_space_limited = false;
  std::promise<absl::StatusOr<InstanceId>> result;
};

LocalProcessDriver::LocalProcessDriver(Options options)
    : options_(std::move(options)),
      cgroups_(options_.use_cgroups ? local::InstanceCgroups::Detect() : local::InstanceCgroups()),
      registry_(options_.registry_dir) {
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
  ASSIGN_OR_RETURN(request->plan,
                   local::PrepareSpawn(spec, options_.sandbox ? &*options_.sandbox : nullptr));
  ASSIGN_OR_RETURN(request->log, local::RotatingLogFile::Open(spec.log_file, spec.max_log_bytes));
  request->instance_key = spec.instance_key;
  request->log_file = spec.log_file;
  request->user_mode_network = spec.sandbox && spec.sandbox->network == SandboxNetwork::kUserMode;
  const InstanceLimits& limits = spec.limits;
  if (limits.memory_bytes > 0 || limits.cpu_millis > 0) {
    auto group = cgroups_.Create(GroupName(), limits);
    if (!group.ok()) {
      request->log->Append("berth: " + std::string(group.status().message()) + "\n");
    } else if (group->has_value()) {
      request->group = **group;
      request->plan.cgroup_procs = request->group->procs_files;
    }
    bool memory_grouped = request->group && !request->group->memory_dir.empty();
    if (limits.memory_bytes > 0 && !memory_grouped) {
      request->plan.address_space_limit = limits.memory_bytes;
      request->address_space_limited = true;
      request->log->Append(
          "berth: no usable memory cgroup; the memory limit applies as RLIMIT_AS to each "
          "process\n");
    }
    if (limits.cpu_millis > 0 && !cgroups_.cpu_available()) {
      request->log->Append("berth: no usable cpu cgroup; the CPU limit is not applied\n");
    }
  }
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
    // A sandbox's leader is bwrap, which would die of SIGTERM and take the instance with it at
    // once; its pid 1 (tini) forwards the signal to the program instead.
    ::kill(instance.sandbox_pid > 0 ? instance.sandbox_pid : -instance.pid, SIGTERM);
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

absl::StatusOr<ResourceUsage> LocalProcessDriver::Usage(InstanceId id) {
  local::InstanceProcesses processes;
  std::optional<local::InstanceGroup> group;
  {
    std::lock_guard lock(mu_);
    auto it = instances_.find(id);
    if (it == instances_.end() || it->second.exited) {
      return absl::NotFoundError("no running instance " + std::to_string(id));
    }
    processes = {.leader = it->second.pid, .sandbox_pid = it->second.sandbox_pid};
    group = it->second.group;
  }
  // Read without the lock: the pump thread must not wait for /proc.
  return local::InstanceUsage(processes, group);
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
      Deadline now = steady_clock::now();
      for (const auto& [id, instance] : instances_) {
        if (instance.output_fd >= 0 && now >= instance.output_quiet_until) {
          fds.push_back({instance.output_fd, POLLIN, 0});
          owners.push_back(id);
        }
        if (!instance.exited && instance.pidfd >= 0) {
          fds.push_back({instance.pidfd, POLLIN, 0});
          owners.push_back(id);
        }
      }
      timeout_ms = PollTimeoutMsLocked(now);
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
        instance.output_quiet_until = steady_clock::now() + kOutputBatch;
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
      if (request->group) local::InstanceCgroups::Remove(*request->group);
      request->result.set_value(spawned.status());
      continue;
    }
    Instance started;
    absl::Status ready = registry_.Record(spawned->pid, request->instance_key);
    if (ready.ok() && request->plan.out_pipe) {
      std::string note;
      ready = FinishSandboxStart(*spawned, request->user_mode_network, started, &note);
      if (!note.empty()) request->log->Append(note);
    }
    if (spawned->out_pipe >= 0) ::close(spawned->out_pipe);
    if (spawned->in_pipe >= 0) ::close(spawned->in_pipe);
    if (!ready.ok()) {
      ::kill(-spawned->pid, SIGKILL);
      while (::waitpid(spawned->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      request->log->Append(DrainNow(spawned->output_fd));
      ::close(spawned->output_fd);
      if (started.network_pid > 0) {
        ::kill(started.network_pid, SIGKILL);
        while (::waitpid(started.network_pid, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      if (started.network_exit_fd >= 0) ::close(started.network_exit_fd);
      registry_.Remove(spawned->pid);
      if (request->group) local::InstanceCgroups::Remove(*request->group);
      request->result.set_value(ready);
      continue;
    }
    InstanceId id;
    {
      std::lock_guard lock(mu_);
      id = next_id_++;
      Instance& instance = instances_[id];
      instance = std::move(started);
      instance.id = id;
      instance.pid = spawned->pid;
      instance.pidfd = PidfdOpen(spawned->pid);
      instance.output_fd = spawned->output_fd;
      instance.log = std::move(request->log);
      instance.log_file = request->log_file;
      instance.group = std::move(request->group);
      instance.address_space_limited = request->address_space_limited;
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
    if (instance.output_fd >= 0 && instance.output_quiet_until > now) {
      consider(instance.output_quiet_until);
    }
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
    // bwrap and tini pass a signal death on as exit code 128 + signal.
    if (instance.sandbox_pid > 0 && exit.exit_code > 128 && exit.exit_code < 128 + 65) {
      exit.signal = exit.exit_code - 128;
      exit.exit_code = -1;
    }
  } else if (errno != ECHILD) {
    return false;
  }
  // ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN); its status is unknown.
  PumpOutputLocked(instance, kDrainBytes);
  if (instance.network_pid > 0) {
    ::kill(instance.network_pid, SIGKILL);
    while (::waitpid(instance.network_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    instance.network_pid = -1;
  }
  if (instance.network_exit_fd >= 0) ::close(instance.network_exit_fd);
  instance.network_exit_fd = -1;
  exit.limit = LimitThatEnded(instance, exit);
  if (instance.group) local::InstanceCgroups::Remove(*instance.group);
  registry_.Remove(instance.pid);
  if (instance.pidfd >= 0) ::close(instance.pidfd);
  instance.pidfd = -1;
  instance.exited = true;
  instance.kill_at.reset();
  instance.close_output_at = steady_clock::now() + kOutputLinger;
  exits_.push_back(exit);
  return true;
}

absl::Status LocalProcessDriver::FinishSandboxStart(const local::SpawnedProcess& spawned,
                                                    bool user_mode_network,
                                                    LocalProcessDriver::Instance& instance,
                                                    std::string* log_note) {
  // bwrap writes {"child-pid": N, ...} once the sandbox's pid 1 exists.
  std::string info = ReadPipeUntil(
      spawned.out_pipe, [](const std::string& text) { return text.find('}') != std::string::npos; },
      kSandboxSetupTimeout);
  size_t key = info.find("\"child-pid\"");
  size_t colon = key == std::string::npos ? key : info.find(':', key);
  if (colon == std::string::npos) {
    return absl::FailedPreconditionError(
        "the sandbox (bubblewrap) did not start; its message is in the instance's log");
  }
  instance.sandbox_pid = static_cast<pid_t>(std::atoi(info.c_str() + colon + 1));
  if (instance.sandbox_pid <= 0) {
    return absl::InternalError("bubblewrap reported no child pid: " + info);
  }
  if (!user_mode_network) return absl::OkStatus();
  // bwrap brings up the namespace's loopback after reporting the pid; slirp4netns configuring
  // tap0 at the same time makes one of them fail, so wait for 127.0.0.1 to be there first.
  std::string fib = "/proc/" + std::to_string(instance.sandbox_pid) + "/net/fib_trie";
  auto loopback_deadline = steady_clock::now() + kSandboxSetupTimeout;
  while (ReadWholeFile(fib).find("127.0.0.1") == std::string::npos) {
    if (steady_clock::now() > loopback_deadline) {
      return absl::FailedPreconditionError("the sandbox's loopback interface did not come up");
    }
    std::this_thread::sleep_for(milliseconds(1));
  }

  // slirp4netns gives the sandbox's own network namespace outbound access (a tap device
  // configured 10.0.2.100/24, gateway and DNS at 10.0.2.2/.3) and nothing inbound. It reports
  // on fd 3 (--ready-fd) when the tap is up and exits when fd 4 (--exit-fd) closes.
  local::SpawnPlan plan;
  plan.program = options_.slirp4netns;
  plan.argv0 = "slirp4netns";
  plan.argv = {plan.program, "--configure", "--mtu=65520", "--ready-fd=3", "--exit-fd=4"};
  if (!options_.sandbox->privileged) {
    plan.argv.push_back("--userns-path=/proc/" + std::to_string(instance.sandbox_pid) + "/ns/user");
  }
  plan.argv.insert(plan.argv.end(), {std::to_string(instance.sandbox_pid), "tap0"});
  plan.env = {"PATH=/usr/bin:/bin"};
  plan.working_dir = "/";
  plan.out_pipe = plan.in_pipe = true;
  plan.discard_output = true;  // it reports through --ready-fd; nothing to keep
  std::string helper_output;
  auto helper = local::ForkExec(plan, &helper_output);
  if (!helper.ok()) {
    *log_note += helper_output;
    return absl::FailedPreconditionError("cannot start slirp4netns for outbound network access: " +
                                         std::string(helper.status().message()));
  }
  instance.network_pid = helper->pid;
  instance.network_exit_fd = helper->in_pipe;
  std::string ready = ReadPipeUntil(
      helper->out_pipe, [](const std::string& text) { return !text.empty(); },
      kSandboxSetupTimeout);
  ::close(helper->out_pipe);
  if (ready.empty()) {
    return absl::FailedPreconditionError(
        "slirp4netns did not bring up the instance's network in time");
  }
  // The sandbox waits on --block-fd until now, so the program starts with its network up.
  char go = '1';
  if (::write(spawned.in_pipe, &go, 1) != 1) {
    return absl::InternalError("cannot release the sandbox: " + std::string(std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string LocalProcessDriver::LimitThatEnded(const Instance& instance, const ExitInfo& exit) {
  if (instance.group && local::InstanceCgroups::OomKills(*instance.group) > 0) {
    return "memory limit (cgroup)";
  }
  if (instance.address_space_limited && (exit.signal != 0 || exit.exit_code != 0)) {
    // The allocation that failed is only visible in what the program printed as it died.
    std::string tail = TailLog(instance.log_file, 30);
    for (const char* sign :
         {"MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory", "Out of memory"}) {
      if (tail.find(sign) != std::string::npos) return "memory limit (RLIMIT_AS)";
    }
  }
  return "";
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
