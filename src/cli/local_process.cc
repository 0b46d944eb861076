#include "cli/local_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "compute/local/child_exec.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// How long the group may take to go after SIGKILL (it cannot refuse; this only covers the
// kernel tearing it down).
constexpr milliseconds kKillWait{5000};

// Moves a descriptor above stdio (CLOEXEC), so the grandchild's dup2 onto 0-2 cannot clobber
// it.
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// ---- Children: async-signal-safe calls only. ----

// Messages on the report pipe: the middle process sends the grandchild's pid; the grandchild
// sends why it could not start. Each is written whole (smaller than PIPE_BUF).
enum class MessageKind : int { kPid = 1, kForkFailed = 2, kChdirFailed = 3, kExecFailed = 4 };
struct Message {
  int kind;
  int value;
};

struct ChildArgs {
  compute::local::ChildExec exec;  // keep_fd is the report pipe
};

void Report(int fd, MessageKind kind, int value) {
  Message message{static_cast<int>(kind), value};
  while (::write(fd, &message, sizeof(message)) < 0 && errno == EINTR) {
  }
}

[[noreturn]] void GrandchildMain(const ChildArgs& args) {
  // Its own group, inside the session the middle process made: signals to the group reach the
  // server and its workers, and it can never acquire a controlling terminal.
  ::setpgid(0, 0);
  compute::local::ChildExecFailure failure = compute::local::ExecInChild(args.exec);
  Report(args.exec.keep_fd, failure.at_chdir ? MessageKind::kChdirFailed : MessageKind::kExecFailed,
         failure.error);
  ::_exit(127);
}

[[noreturn]] void MiddleMain(const ChildArgs& args) {
  // A new session: no controlling terminal, so the terminal's ^C and hangup never reach the
  // server. The middle process exits at once; the grandchild is re-parented.
  ::setsid();
  pid_t pid = ::fork();
  if (pid == 0) GrandchildMain(args);
  if (pid < 0) {
    Report(args.exec.keep_fd, MessageKind::kForkFailed, errno);
    ::_exit(1);
  }
  Report(args.exec.keep_fd, MessageKind::kPid, pid);
  ::_exit(0);
}

std::string ExitText(int status) {
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return absl::StrCat("exited with code ", WEXITSTATUS(status));
}

// Reaps `pid` if it is an ended child of this process.
void ReapIfChild(int pid) {
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
  }
}

// kill(-pgid), falling back to the leader itself when the group is gone but it runs (it left
// its group).
void SignalGroup(const ProcessIdentity& id, int sig) {
  if (id.pgid > 0 && ::kill(-id.pgid, sig) == 0) return;
  if (IsRunning(id)) ::kill(id.pid, sig);
}

bool AnyRunning(const ProcessIdentity& id) {
  ReapIfChild(id.pid);
  return IsRunning(id) || !GroupMembers(id).empty();
}

// Polls until nothing of the group runs or `limit` passes; true when nothing runs.
bool WaitGone(const ProcessIdentity& id, milliseconds limit, const StopEnv& env) {
  const SteadyTime deadline = env.clock->Now() + limit;
  while (AnyRunning(id)) {
    if (env.clock->Now() >= deadline) return false;
    env.sleep(env.interval);
  }
  return true;
}

}  // namespace

bool IsRunning(const ProcessIdentity& id) {
  std::optional<ProcStat> stat = ReadProcStat(id.pid);
  return stat.has_value() && stat->state != 'Z' && stat->state != 'X' &&
         stat->start_time == id.start_time;
}

std::vector<int> GroupMembers(const ProcessIdentity& id) {
  std::vector<int> members;
  if (id.pgid <= 0 || id.sid <= 0) return members;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return members;
  while (dirent* entry = ::readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    std::optional<ProcStat> stat = ReadProcStat(pid);
    if (stat && stat->process_group == id.pgid && stat->session == id.sid && stat->state != 'Z' &&
        stat->state != 'X') {
      members.push_back(pid);
    }
  }
  ::closedir(proc);
  return members;
}

absl::StatusOr<ProcessIdentity> StartDetached(const compute::local::SpawnPlan& plan,
                                              const fs::path& log_file) {
  // Everything the children touch is built here, before fork: they must not allocate.
  std::vector<char*> argv;
  for (const std::string& arg : plan.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& var : plan.env) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  std::string chdir_message =
      absl::StrCat("berth: cannot change to working directory '", plan.working_dir, "': ");
  std::string exec_message = absl::StrCat("berth: cannot execute '", plan.argv0, "': ");

  int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", log_file.string(), ": ", std::strerror(errno)));
  }
  int stdin_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int report[2] = {-1, -1};
  if (::pipe2(report, O_CLOEXEC) != 0) report[0] = report[1] = -1;
  for (int* fd : {&log_fd, &stdin_fd, &report[0], &report[1]}) *fd = AboveStdio(*fd);
  auto close_all = [&] {
    for (int* fd : {&log_fd, &stdin_fd, &report[0], &report[1]}) CloseFd(*fd);
  };
  if (log_fd < 0 || stdin_fd < 0 || report[0] < 0 || report[1] < 0) {
    int error = errno;
    close_all();
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot set up the process's files: ", std::strerror(error)));
  }
  ChildArgs args{{plan.program.c_str(), argv.data(), envp.data(), plan.working_dir.c_str(),
                  chdir_message.c_str(), exec_message.c_str(), stdin_fd, log_fd, report[1],
                  compute::local::MaxFdForChild()}};

  // As the grandchild's nearest subreaper this process inherits it when the middle process
  // exits, and can learn its exit status while it waits for readiness.
  int was_subreaper = 0;
  ::prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
  if (!was_subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t middle = ::fork();
  if (middle == 0) MiddleMain(args);
  int fork_error = errno;
  CloseFd(report[1]);
  CloseFd(log_fd);
  CloseFd(stdin_fd);
  if (middle < 0) {
    if (!was_subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    close_all();
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(fork_error)));
  }
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  // The grandchild was re-parented when the middle process exited; turning the flag off now
  // does not change that.
  if (!was_subreaper) ::prctl(PR_SET_CHILD_SUBREAPER, 0);

  // Read until EOF: the middle process has exited, and the grandchild's copy closes at exec.
  pid_t grandchild = -1;
  std::optional<Message> failure;
  Message message{};
  size_t got = 0;
  while (true) {
    ssize_t n = ::read(report[0], reinterpret_cast<char*>(&message) + got, sizeof(message) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
    if (got < sizeof(message)) continue;
    got = 0;
    if (message.kind == static_cast<int>(MessageKind::kPid)) {
      grandchild = message.value;
    } else {
      failure = message;
    }
  }
  CloseFd(report[0]);
  if (grandchild > 0 && failure) {
    while (::waitpid(grandchild, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (failure || grandchild <= 0) {
    int error = failure ? failure->value : EIO;
    const char* description = ::strerrordesc_np(error);
    std::string why = description != nullptr ? description : "unknown error";
    if (failure && failure->kind == static_cast<int>(MessageKind::kChdirFailed)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot change to working directory '", plan.working_dir, "': ", why));
    }
    if (failure && failure->kind == static_cast<int>(MessageKind::kExecFailed)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot execute '", plan.argv0, "': ", why));
    }
    return absl::ResourceExhaustedError(absl::StrCat("cannot start the process: ", why));
  }
  ProcessIdentity id;
  id.pid = grandchild;
  id.pgid = grandchild;
  id.sid = middle;
  // A zombie still has its stat; the exec succeeded, so the pid is ours until it is reaped.
  std::optional<ProcStat> stat = ReadProcStat(grandchild);
  if (!stat) {
    return absl::InternalError(absl::StrCat("cannot read /proc/", grandchild, "/stat"));
  }
  id.start_time = stat->start_time;
  return id;
}

ProcessStatus CheckProcess(const ProcessIdentity& id) {
  if (id.pid <= 0) return {false, "was never started"};
  int status = 0;
  pid_t reaped;
  while ((reaped = ::waitpid(id.pid, &status, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (reaped == id.pid) return {false, ExitText(status)};
  if (IsRunning(id)) return {true, ""};
  return {false, "is no longer running"};
}

absl::Status StopProcessGroup(const ProcessIdentity& id, milliseconds grace, const StopEnv& env) {
  if (id.pid <= 0 || !AnyRunning(id)) return absl::OkStatus();
  SignalGroup(id, SIGTERM);
  if (WaitGone(id, grace, env)) return absl::OkStatus();
  SignalGroup(id, SIGKILL);
  if (WaitGone(id, kKillWait, env)) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("process group ", id.pgid, " is still running after SIGKILL"));
}

}  // namespace berth::cli
