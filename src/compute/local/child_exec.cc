#include "compute/local/child_exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::compute::local {
namespace {

void WriteString(int fd, const char* text) {
  size_t len = std::strlen(text);
  while (len > 0) {
    ssize_t n = ::write(fd, text, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    text += n;
    len -= static_cast<size_t>(n);
  }
}

ChildExecFailure Fail(const ChildExec& exec, bool at_chdir, int error) {
  WriteString(STDERR_FILENO, at_chdir ? exec.chdir_message : exec.exec_message);
  const char* description = ::strerrordesc_np(error);
  WriteString(STDERR_FILENO, description != nullptr ? description : "unknown error");
  WriteString(STDERR_FILENO, "\n");
  return {at_chdir, error};
}

}  // namespace

ChildExecFailure ExecInChild(const ChildExec& exec) {
  sigset_t empty;
  ::sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);

  if (::dup2(exec.stdin_fd, STDIN_FILENO) < 0 || ::dup2(exec.output_fd, STDOUT_FILENO) < 0 ||
      ::dup2(exec.output_fd, STDERR_FILENO) < 0) {
    ::_exit(127);
  }
  // Joining the cgroups first puts everything the program starts under the limits too; a
  // failure leaves the instance without them, which the driver notices when it reads them.
  for (int i = 0; i < exec.cgroup_count; ++i) {
    int fd = ::open(exec.cgroup_procs[i], O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ssize_t ignored = ::write(fd, "0", 1);
      (void)ignored;
      ::close(fd);
    }
  }
  if (exec.address_space_limit > 0) {
    struct rlimit limit {
      exec.address_space_limit, exec.address_space_limit
    };
    ::setrlimit(RLIMIT_AS, &limit);
  }
  if (::chdir(exec.working_dir) != 0) return Fail(exec, true, errno);
  int first_closed = 3;
  for (int i = 0; i < exec.pass_fd_count; ++i) {
    if (::dup2(exec.pass_fds[i], 3 + i) < 0) ::_exit(127);  // dup2 clears CLOEXEC
    first_closed = 4 + i;
  }
  int keep = exec.keep_fd;
  bool closed = (keep == first_closed || ::close_range(first_closed, keep - 1, 0) == 0) &&
                ::close_range(keep + 1, ~0U, 0) == 0;
  if (!closed) {
    for (int fd = first_closed; fd < exec.max_fd; ++fd) {
      if (fd != keep) ::close(fd);
    }
  }
  ::execve(exec.program, exec.argv, exec.envp);
  return Fail(exec, false, errno);
}

int MaxFdForChild() {
  struct rlimit limit {};
  int max_fd = 65536;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < static_cast<rlim_t>(max_fd)) {
    max_fd = static_cast<int>(limit.rlim_cur);
  }
  return max_fd;
}

}  // namespace berth::compute::local
