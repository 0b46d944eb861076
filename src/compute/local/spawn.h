#pragma once
// Process creation for LocalProcessDriver, split in two steps: PrepareSpawn validates a
// LaunchSpec and builds everything the child needs (it may allocate, and runs on the caller's
// thread); ForkExec forks and execs using only async-signal-safe calls in the child, as
// required after fork() in a multi-threaded program.

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compute/compute_driver.h"
#include "compute/local/sandbox_command.h"

namespace berth::compute::local {

struct SpawnPlan {
  std::string program;  // resolved path of argv[0] for execve (bwrap when sandboxed)
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "NAME=value"
  std::string working_dir;       // on the host
  std::string argv0;             // as the user wrote it, for messages
  bool out_pipe = false;         // the child gets a pipe to write to as fd 3 (bwrap --info-fd)
  bool in_pipe = false;          // the child gets a pipe to read from as fd 4 (bwrap --block-fd)
  bool discard_output = false;   // stdout and stderr go to /dev/null (output_fd is then -1)
  std::vector<std::string> cgroup_procs;  // cgroup.procs files the child joins
  uint64_t address_space_limit = 0;       // RLIMIT_AS when > 0
};

// Checks the spec (argv, working directory, environment names) and resolves argv[0]: a name
// with a '/' is taken relative to the working directory, one without is searched on the PATH
// the instance will see (the spec's PATH if it sets one, else the default). A program that is
// missing or not executable is FAILED_PRECONDITION naming it. With a sandbox (`host` must then
// be set), these checks look through the sandbox's binds and the plan runs bwrap.
absl::StatusOr<SpawnPlan> PrepareSpawn(const LaunchSpec& spec, const SandboxHost* host);

struct SpawnedProcess {
  pid_t pid = -1;
  int output_fd = -1;  // read end of the child's stdout+stderr pipe; non-blocking, CLOEXEC
  int out_pipe = -1;   // out_pipe: the read end of the child's fd 3 (blocking, CLOEXEC)
  int in_pipe = -1;    // in_pipe: the write end of the child's fd 4 (CLOEXEC)
};

// Forks the child into its own session and process group, with SIGKILL as its parent-death
// signal, stdin from /dev/null, stdout and stderr into a pipe, no other descriptors, default
// signal dispositions and an empty signal mask, then execs it. Returns once the exec
// succeeded; if the exec or chdir failed the child has been reaped, what it wrote (the
// "berth: cannot execute ..." line) is stored in `child_output` and FAILED_PRECONDITION
// returned.
//
// The parent-death signal follows the *thread* that forks: call this only from a thread that
// lives as long as the processes it starts.
absl::StatusOr<SpawnedProcess> ForkExec(const SpawnPlan& plan, std::string* child_output);

}  // namespace berth::compute::local
