#pragma once
// The part of starting a process that runs in the child after fork(), for the server's
// LocalProcessDriver (spawn.cc). Async-signal-safe calls only, as required after fork() in a
// multi-threaded program; everything is prepared before.

namespace berth::compute::local {

struct ChildExec {
  const char* program;  // resolved path for execve
  char* const* argv;
  char* const* envp;
  const char* working_dir;
  const char* chdir_message;  // "berth: cannot change to working directory '<dir>': "
  const char* exec_message;   // "berth: cannot execute '<argv0>': "
  int stdin_fd;
  int output_fd;  // becomes stdout and stderr
  int keep_fd;    // stays open (a CLOEXEC report pipe); every other descriptor above 2 closes
  int max_fd;     // for the close loop when close_range is unavailable (MaxFdForChild)
  // Descriptors handed to the program as 3, 4, ... (in order); -1 ends the list. The sources
  // must be above kFirstFreeFd + the list's size.
  const int* pass_fds = nullptr;
  int pass_fd_count = 0;
  // Files the child writes "0" to before exec, to join the instance's cgroups.
  const char* const* cgroup_procs = nullptr;
  int cgroup_count = 0;
  // RLIMIT_AS for the program when > 0.
  unsigned long long address_space_limit = 0;
};

// Where ForkExec moves its own descriptors so pass_fds can land on 3, 4, ...
inline constexpr int kFirstFreeFd = 10;

struct ChildExecFailure {
  bool at_chdir;  // else at exec
  int error;      // errno
};

// Resets signal dispositions and the mask (they survive exec), wires stdin and stdout/stderr,
// changes to the working directory, closes descriptors and execs. Returns only when chdir or
// exec failed, after writing "<message><strerror>\n" to the new stderr; a failed dup2 exits 127.
ChildExecFailure ExecInChild(const ChildExec& exec);

// The highest descriptor number the close loop must cover (RLIMIT_NOFILE, at most 65536).
// Call before fork.
int MaxFdForChild();

}  // namespace berth::compute::local
