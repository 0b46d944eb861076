#include "compute/local/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "compute/local/child_exec.h"

namespace berth::compute::local {
namespace {

constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

// Why a file cannot be executed, or "" if it can.
std::string ExecutableProblem(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (S_ISDIR(st.st_mode)) return "is a directory";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (::access(path.c_str(), X_OK) != 0) return std::strerror(errno);
  return "";
}

absl::Status CannotExecute(const std::string& argv0, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat("cannot execute '", argv0, "': ", why));
}

absl::StatusOr<std::string> ResolveProgram(const std::string& argv0, const std::string& path_env,
                                           const std::filesystem::path& working_dir) {
  if (argv0.find('/') != std::string::npos) {
    std::filesystem::path program(argv0);
    if (program.is_relative()) program = working_dir / program;
    std::string problem = ExecutableProblem(program);
    if (!problem.empty()) return CannotExecute(argv0, problem);
    return program.string();
  }
  std::string_view rest = path_env;
  while (true) {
    size_t colon = rest.find(':');
    std::string_view entry = rest.substr(0, colon);
    // An empty PATH entry means the current directory, as for execvp.
    std::filesystem::path dir =
        entry.empty() ? std::filesystem::path(".") : std::filesystem::path(std::string(entry));
    if (dir.is_relative()) dir = working_dir / dir;
    std::filesystem::path candidate = dir / argv0;
    if (ExecutableProblem(candidate).empty()) return candidate.string();
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return CannotExecute(argv0, "not found on PATH");
}

// ResolveProgram for a program that runs in a sandbox: `argv0` is looked up as the instance will
// (inside paths), each candidate checked where the host has it.
absl::Status CheckSandboxedProgram(
    const std::string& argv0, const std::string& path_env, const std::string& working_dir,
    const std::function<std::optional<std::filesystem::path>(const std::filesystem::path&)>&
        on_host) {
  auto usable = [&](const std::filesystem::path& inside) -> std::string {
    std::optional<std::filesystem::path> host_path = on_host(inside.lexically_normal());
    if (!host_path) return "not visible in the instance's sandbox";
    return ExecutableProblem(*host_path);
  };
  if (argv0.find('/') != std::string::npos) {
    std::filesystem::path program(argv0);
    if (program.is_relative()) program = std::filesystem::path(working_dir) / program;
    std::string problem = usable(program);
    if (!problem.empty()) return CannotExecute(argv0, problem);
    return absl::OkStatus();
  }
  for (absl::string_view entry : absl::StrSplit(path_env, ':')) {
    std::filesystem::path dir =
        entry.empty() ? std::filesystem::path(".") : std::filesystem::path(std::string(entry));
    if (dir.is_relative()) dir = std::filesystem::path(working_dir) / dir;
    if (usable(dir / argv0).empty()) return absl::OkStatus();
  }
  return CannotExecute(argv0, "not found on PATH");
}

// Returns `fd` itself if it is at or above kFirstFreeFd, else a CLOEXEC duplicate there (closing
// the original), so the child's dup2 onto 0-4 can never clobber it.
int AboveStdio(int fd) {
  if (fd < 0 || fd >= kFirstFreeFd) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, kFirstFreeFd);
  ::close(fd);
  return moved;
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// ---- Child side: async-signal-safe calls only. ----

enum class ChildStage : int { kChdir = 1, kExec = 2 };

struct ChildReport {
  int stage;
  int error;
};

struct ChildArgs {
  ChildExec exec;  // keep_fd is the report pipe
  pid_t parent;
};

[[noreturn]] void ChildMain(const ChildArgs& args) {
  ::setsid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // berthd may have died before the prctl took effect; then nobody would ever stop us.
  if (::getppid() != args.parent) ::_exit(127);
  ChildExecFailure failure = ExecInChild(args.exec);
  ChildReport report{static_cast<int>(failure.at_chdir ? ChildStage::kChdir : ChildStage::kExec),
                     failure.error};
  ssize_t ignored = ::write(args.exec.keep_fd, &report, sizeof(report));
  (void)ignored;
  ::_exit(127);
}

}  // namespace

absl::StatusOr<SpawnPlan> PrepareSpawn(const LaunchSpec& spec, const SandboxHost* host) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("instance '", spec.instance_key, "' has no program to run"));
  }
  const SandboxSpec* sandbox = spec.sandbox ? &*spec.sandbox : nullptr;
  if (sandbox != nullptr && host == nullptr) {
    return absl::FailedPreconditionError("instances cannot be sandboxed on this host");
  }
  // The working directory and the program are checked where the host has them.
  auto on_host = [&](const std::filesystem::path& path) -> std::optional<std::filesystem::path> {
    if (sandbox == nullptr) return path;
    return HostPathOf(path.string(), *sandbox, *host);
  };
  std::error_code ec;
  std::optional<std::filesystem::path> host_working_dir =
      spec.working_dir.empty() ? std::nullopt : on_host(spec.working_dir);
  if (!host_working_dir || !std::filesystem::is_directory(*host_working_dir, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("working directory '", spec.working_dir.string(), "' does not exist"));
  }
  SpawnPlan plan;
  plan.argv0 = spec.argv[0];
  plan.argv = spec.argv;
  plan.working_dir = std::filesystem::absolute(*host_working_dir, ec).string();
  if (ec) plan.working_dir = host_working_dir->string();

  // A clean environment: berthd's own (which may hold BERTH_TOKEN) is never passed on.
  std::map<std::string, std::string> env = {
      {"PATH", kDefaultPath}, {"LANG", "C.UTF-8"}, {"HOME", "/tmp"}};
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid environment variable name '", name, "'"));
    }
    env[name] = value;
  }
  for (const auto& [name, value] : env) plan.env.push_back(name + "=" + value);
  for (const std::string& arg : plan.argv) {
    if (arg.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError("a command argument contains a NUL character");
    }
  }

  if (sandbox == nullptr) {
    auto program = ResolveProgram(plan.argv0, env["PATH"], plan.working_dir);
    if (!program.ok()) return program.status();
    plan.program = *std::move(program);
  } else {
    RETURN_IF_ERROR(
        CheckSandboxedProgram(plan.argv0, env["PATH"], spec.working_dir.string(), on_host));
    if (sandbox->network == SandboxNetwork::kUserMode && !host->privileged) {
      // slirp4netns cannot enter the network namespace of an unprivileged bwrap.
      return absl::FailedPreconditionError(
          "outbound network access from a sandbox needs berthd to run as root");
    }
    plan.out_pipe = true;
    plan.in_pipe = sandbox->network == SandboxNetwork::kUserMode;
    plan.argv = SandboxArgv(spec, *host, {.info_fd = 3, .block_fd = plan.in_pipe ? 4 : -1});
    plan.program = host->bwrap;
    std::string problem = ExecutableProblem(plan.program);
    if (!problem.empty()) return CannotExecute(plan.program, problem);
  }
  return plan;
}

absl::StatusOr<SpawnedProcess> ForkExec(const SpawnPlan& plan, std::string* child_output) {
  // Everything the child touches is built here, before fork: it must not allocate.
  std::vector<char*> argv;
  for (const std::string& arg : plan.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& var : plan.env) envp.push_back(const_cast<char*>(var.c_str()));
  envp.push_back(nullptr);
  std::string chdir_message =
      absl::StrCat("berth: cannot change to working directory '", plan.working_dir, "': ");
  std::string exec_message = absl::StrCat("berth: cannot execute '", plan.argv0, "': ");

  int output[2] = {-1, -1};
  int report[2] = {-1, -1};
  int info[2] = {-1, -1};   // sandboxed: bwrap --info-fd
  int block[2] = {-1, -1};  // blocked: bwrap --block-fd
  bool piped = ::pipe2(output, O_CLOEXEC) == 0 && ::pipe2(report, O_CLOEXEC) == 0 &&
               (!plan.out_pipe || ::pipe2(info, O_CLOEXEC) == 0) &&
               (!plan.in_pipe || ::pipe2(block, O_CLOEXEC) == 0);
  int stdin_fd = piped ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
  if (piped && plan.discard_output) {
    ::close(output[1]);
    output[1] = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  std::vector<int*> fds = {&output[0], &output[1], &report[0], &report[1], &info[0],
                           &info[1],   &block[0],  &block[1],  &stdin_fd};
  for (int* fd : fds) *fd = AboveStdio(*fd);
  auto close_all = [&] {
    for (int* fd : fds) CloseFd(*fd);
  };
  if (!piped || output[0] < 0 || output[1] < 0 || report[0] < 0 || report[1] < 0 || stdin_fd < 0 ||
      (plan.out_pipe && (info[0] < 0 || info[1] < 0)) ||
      (plan.in_pipe && (block[0] < 0 || block[1] < 0))) {
    int error = errno;
    close_all();
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create the instance's pipes: ", std::strerror(error)));
  }
  // Room for what an instance writes between two of the driver's output rounds, so that
  // logging does not block it (1 MiB is the unprivileged maximum; a failure keeps the default).
  if (!plan.discard_output) ::fcntl(output[1], F_SETPIPE_SZ, 1 << 20);
  int pass_fds[2] = {info[1], block[0]};
  std::vector<const char*> cgroup_procs;
  for (const std::string& file : plan.cgroup_procs) cgroup_procs.push_back(file.c_str());

  ChildArgs args{
      {plan.program.c_str(), argv.data(), envp.data(), plan.working_dir.c_str(),
       chdir_message.c_str(), exec_message.c_str(), stdin_fd, output[1], report[1], MaxFdForChild(),
       pass_fds, plan.out_pipe ? (plan.in_pipe ? 2 : 1) : 0, cgroup_procs.data(),
       static_cast<int>(cgroup_procs.size()), plan.address_space_limit},
      ::getpid()};

  pid_t pid = ::fork();
  if (pid < 0) {
    int error = errno;
    close_all();
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", std::strerror(error)));
  }
  if (pid == 0) ChildMain(args);

  CloseFd(output[1]);
  CloseFd(report[1]);
  CloseFd(stdin_fd);
  CloseFd(info[1]);
  CloseFd(block[0]);
  // The report pipe closes at a successful exec (CLOEXEC) or carries why it failed.
  ChildReport child_report{};
  size_t got = 0;
  while (got < sizeof(child_report)) {
    ssize_t n =
        ::read(report[0], reinterpret_cast<char*>(&child_report) + got, sizeof(child_report) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  CloseFd(report[0]);
  ::fcntl(output[0], F_SETFL, ::fcntl(output[0], F_GETFL) | O_NONBLOCK);
  if (plan.discard_output) CloseFd(output[0]);
  if (got < sizeof(child_report)) return SpawnedProcess{pid, output[0], info[0], block[1]};
  CloseFd(info[0]);
  CloseFd(block[1]);

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(output[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (child_output != nullptr) child_output->append(buffer, static_cast<size_t>(n));
  }
  CloseFd(output[0]);
  const char* description = ::strerrordesc_np(child_report.error);
  std::string why = description != nullptr ? description : "unknown error";
  if (child_report.stage == static_cast<int>(ChildStage::kChdir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot change to working directory '", plan.working_dir, "': ", why));
  }
  return CannotExecute(plan.argv0, why);
}

}  // namespace berth::compute::local
