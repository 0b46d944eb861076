#include "cli/local_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/api_client.h"
#include "common/status_macros.h"

extern char** environ;

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kDaemonFile[] = "daemon.json";
constexpr char kLockFile[] = "daemon.lock";
constexpr char kLogFile[] = "berthd.log";
constexpr char kListeningPrefix[] = "berthd: listening on ";
constexpr int kLogTailLines = 20;
constexpr std::chrono::seconds kHealthTimeout{2};

std::string EnvOr(const EnvLookup& env, const std::string& name, std::string fallback) {
  std::optional<std::string> value = env(name);
  return value && !value->empty() ? *value : std::move(fallback);
}

std::optional<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string LogTail(const fs::path& log) {
  std::optional<std::string> text = ReadWholeFile(log);
  if (!text) return "";
  std::vector<std::string> lines = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  size_t from = lines.size() > kLogTailLines ? lines.size() - kLogTailLines : 0;
  return absl::StrJoin(lines.begin() + from, lines.end(), "\n");
}

std::string WithLogTail(std::string message, const fs::path& log) {
  std::string tail = LogTail(log);
  if (tail.empty()) return absl::StrCat(message, " (", log.string(), " is empty)");
  return absl::StrCat(message, "; last lines of ", log.string(), ":\n", tail);
}

// An exclusive flock() on <dir>/daemon.lock, released when this goes away. The descriptor is
// close-on-exec, so the daemon started meanwhile does not inherit the lock.
class DirLock {
 public:
  static absl::StatusOr<DirLock> Acquire(const fs::path& dir) {
    fs::path path = dir / kLockFile;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open ", path.string(), ": ", std::strerror(errno)));
    }
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int error = errno;
      ::close(fd);
      return absl::InternalError(
          absl::StrCat("cannot lock ", path.string(), ": ", std::strerror(error)));
    }
    return DirLock(fd);
  }
  DirLock(DirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  DirLock& operator=(DirLock&&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

absl::Status EnsureDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the local folder ", dir.string(), ": ", ec.message()));
  }
  ::chmod(dir.c_str(), 0700);  // the admin token lives there
  return absl::OkStatus();
}

absl::StatusOr<std::optional<DaemonRecord>> ReadDaemonRecord(const fs::path& dir) {
  fs::path file = dir / kDaemonFile;
  std::optional<std::string> text = ReadWholeFile(file);
  if (!text) return std::nullopt;
  ASSIGN_OR_RETURN(DaemonRecord record, ParseDaemonRecord(*text, file.string()));
  return record;
}

absl::Status WriteDaemonRecord(const fs::path& dir, const DaemonRecord& record) {
  fs::path file = dir / kDaemonFile;
  fs::path aside = dir / ".daemon.json.tmp";
  {
    std::ofstream out(aside, std::ios::trunc);
    out << DaemonRecordJson(record).dump(2) << "\n";
    if (!out.flush()) return absl::InternalError("cannot write " + aside.string());
  }
  std::error_code ec;
  fs::rename(aside, file, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot write ", file.string(), ": ", ec.message()));
  return absl::OkStatus();
}

void RemoveDaemonRecord(const fs::path& dir) {
  std::error_code ec;
  fs::remove(dir / kDaemonFile, ec);
}

bool ProcessMatches(const DaemonRecord& record) {
  std::optional<uint64_t> start_time = ProcessStartTime(record.pid);
  return start_time && *start_time == record.start_time;
}

// posix_spawn in a new session (no terminal: Ctrl-C in the user's shell does not reach it),
// reading /dev/null, appending stdout and stderr to `log`, in `dir`, with no descriptor of the
// CLI but those three. Returns its pid; the CLI stays its parent until it exits.
absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv, const fs::path& dir,
                                    const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int error = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (error != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start ", argv[0], ": ", std::strerror(error)));
  }
  return pid;
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return "ended";
}

// Starts berthd and waits until it answers; the caller holds the lock.
absl::StatusOr<DaemonRecord> StartDaemon(const LocalDaemonSettings& settings,
                                         const DaemonWaitEnv& wait) {
  std::vector<std::string> argv = LocalDaemonArgv(settings);
  std::error_code ec;
  if (!fs::exists(argv[0], ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the berthd executable ", argv[0],
        " does not exist; --local runs a berthd of its own: build berthd, or set BERTH_DAEMON"));
  }
  fs::path log = settings.dir / kLogFile;
  if (fs::exists(log, ec)) fs::rename(log, settings.dir / (std::string(kLogFile) + ".1"), ec);
  ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(argv, settings.dir, log));

  SteadyTime deadline = wait.clock->Now() + wait.start_timeout;
  while (true) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return absl::FailedPreconditionError(WithLogTail(
          absl::StrCat("the local berthd (pid ", pid, ") ", ExitText(status), " at start"), log));
    }
    std::optional<std::string> output = ReadWholeFile(log);
    std::optional<std::string> url = output ? ListeningUrl(*output) : std::nullopt;
    if (url && DaemonAnswers(*url)) {
      std::optional<uint64_t> start_time = ProcessStartTime(pid);
      if (!start_time) {
        return absl::InternalError(absl::StrCat("cannot read /proc/", pid, "/stat"));
      }
      DaemonRecord record{*url, pid, *start_time};
      RETURN_IF_ERROR(WriteDaemonRecord(settings.dir, record));
      if (wait.progress != nullptr) {
        *wait.progress << "Started the local berthd (pid " << pid << ") at " << *url
                       << "; its data and log are in " << settings.dir.string()
                       << "; stop it with `berth local-daemon stop`\n"
                       << std::flush;
      }
      return record;
    }
    if (wait.clock->Now() >= deadline) {
      ::kill(pid, SIGTERM);  // half started: do not leave it behind
      return absl::DeadlineExceededError(
          WithLogTail(absl::StrCat("the local berthd (pid ", pid, ") did not answer within ",
                                   wait.start_timeout.count(), " s; it was sent SIGTERM"),
                      log));
    }
    wait.sleep(wait.interval);
  }
}

absl::StatusOr<std::string> ReadAdminToken(const fs::path& dir) {
  fs::path file = dir / "admin-token";
  std::optional<std::string> text = ReadWholeFile(file);
  std::string token = text ? std::string(absl::StripAsciiWhitespace(*text)) : "";
  if (token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the local berthd's admin token ", file.string(), " is missing or empty"));
  }
  return token;
}

}  // namespace

absl::StatusOr<fs::path> LocalDaemonDir(const EnvLookup& env) {
  fs::path dir;
  if (std::string value = EnvOr(env, "BERTH_LOCAL_DIR", ""); !value.empty()) {
    dir = value;
  } else if (std::string state = EnvOr(env, "XDG_STATE_HOME", ""); !state.empty()) {
    dir = fs::path(state) / "berth" / "local";
  } else if (std::string home = EnvOr(env, "HOME", ""); !home.empty()) {
    dir = fs::path(home) / ".local" / "state" / "berth" / "local";
  } else {
    return absl::FailedPreconditionError(
        "no folder for the local berthd: set BERTH_LOCAL_DIR (or XDG_STATE_HOME or HOME)");
  }
  // The daemon runs in its folder and later commands may run elsewhere.
  std::error_code ec;
  fs::path absolute = fs::absolute(dir, ec);
  return ec ? dir : absolute.lexically_normal();
}

json DaemonRecordJson(const DaemonRecord& record) {
  return {{"url", record.url}, {"pid", record.pid}, {"start_time", record.start_time}};
}

absl::StatusOr<DaemonRecord> ParseDaemonRecord(std::string_view text, const std::string& file) {
  json doc = json::parse(std::string(text), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file,
                                                   ": not a JSON object; delete the file "
                                                   "if no local berthd runs"));
  }
  auto bad = [&](const char* field, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": field ", field, ": expected ", expected));
  };
  DaemonRecord record;
  auto url = doc.find("url");
  if (url == doc.end() || !url->is_string() || !ParseHttpUrl(url->get<std::string>()).ok()) {
    return bad("url", "an http:// URL");
  }
  record.url = url->get<std::string>();
  auto pid = doc.find("pid");
  if (pid == doc.end() || !pid->is_number_integer() || pid->get<int64_t>() <= 0 ||
      pid->get<int64_t>() > std::numeric_limits<int>::max()) {
    return bad("pid", "a positive integer");
  }
  record.pid = pid->get<int>();
  auto start_time = doc.find("start_time");
  if (start_time == doc.end() || !start_time->is_number_unsigned()) {
    return bad("start_time", "a non-negative integer");
  }
  record.start_time = start_time->get<uint64_t>();
  return record;
}

std::optional<std::string> ListeningUrl(std::string_view output) {
  std::optional<std::string> url;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(output.data(), output.size()), '\n')) {
    if (absl::StartsWith(line, kListeningPrefix)) {
      url = std::string(absl::StripAsciiWhitespace(line.substr(std::strlen(kListeningPrefix))));
    }
  }
  return url;
}

std::optional<uint64_t> ProcessStartTime(int pid) {
  if (pid <= 0) return std::nullopt;
  std::optional<std::string> text = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // The command name (field 2) is in parentheses and may itself hold spaces and ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<std::string> fields = absl::StrSplit(text->substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is the state (field 3), fields[19] the start time (field 22).
  uint64_t start_time = 0;
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X" ||
      !absl::SimpleAtoi(fields[19], &start_time)) {
    return std::nullopt;
  }
  return start_time;
}

bool DaemonAnswers(const std::string& url) {
  absl::StatusOr<HttpUrl> server = ParseHttpUrl(url);
  if (!server.ok()) return false;
  HttpRequest request;
  request.target = "/healthz";
  request.timeout = kHealthTimeout;
  absl::StatusOr<HttpResponse> response = SendHttp(*server, request, kHealthTimeout);
  return response.ok() && response->status == 200;
}

DaemonVerdict JudgeDaemon(const std::optional<DaemonRecord>& record, bool process_running,
                          bool answers) {
  if (!record || !process_running) return DaemonVerdict::kStart;
  return answers ? DaemonVerdict::kUse : DaemonVerdict::kUnresponsive;
}

absl::StatusOr<LocalDaemonSettings> ResolveLocalDaemonSettings(const EnvLookup& env,
                                                               const std::string& compiled_python,
                                                               const InstallPaths& installed) {
  LocalDaemonSettings settings;
  ASSIGN_OR_RETURN(settings.dir, LocalDaemonDir(env));
  settings.berthd = EnvOr(env, "BERTH_DAEMON", installed.berthd.string());
  settings.worker = EnvOr(env, "BERTH_WORKER", installed.worker.string());
  settings.python = EnvOr(env, "BERTH_PYTHON", compiled_python);
  settings.python_dir = EnvOr(env, "BERTH_PYTHON_DIR", installed.python_dir.string());
  return settings;
}

std::vector<std::string> LocalDaemonArgv(const LocalDaemonSettings& settings) {
  std::vector<std::string> argv = {
      settings.berthd, "--data-dir", settings.dir.string(), "--host", "127.0.0.1",
      "--port",        "0",          "--no-scoring-auth"};
  auto add = [&argv](const char* flag, const std::string& value) {
    if (value.empty()) return;
    argv.push_back(flag);
    argv.push_back(value);
  };
  add("--python", settings.python);
  add("--python-dir", settings.python_dir);
  add("--worker", settings.worker);
  return argv;
}

absl::StatusOr<ClientConfig> EnsureLocalDaemon(const LocalDaemonSettings& settings,
                                               const DaemonWaitEnv& wait) {
  RETURN_IF_ERROR(EnsureDir(settings.dir));
  ASSIGN_OR_RETURN(DirLock lock, DirLock::Acquire(settings.dir));
  ASSIGN_OR_RETURN(std::optional<DaemonRecord> record, ReadDaemonRecord(settings.dir));
  bool running = record && ProcessMatches(*record);
  switch (JudgeDaemon(record, running, running && DaemonAnswers(record->url))) {
    case DaemonVerdict::kUse:
      break;
    case DaemonVerdict::kUnresponsive:
      return absl::UnavailableError(WithLogTail(
          absl::StrCat("the local berthd (pid ", record->pid, ") runs but does not answer at ",
                       record->url,
                       "; try again in a moment, or stop it with `berth local-daemon stop`"),
          settings.dir / kLogFile));
    case DaemonVerdict::kStart: {
      RemoveDaemonRecord(settings.dir);
      ASSIGN_OR_RETURN(record, StartDaemon(settings, wait));
      break;
    }
  }
  ASSIGN_OR_RETURN(std::string token, ReadAdminToken(settings.dir));
  return ClientConfig{record->url, std::move(token)};
}

absl::StatusOr<std::optional<DaemonRecord>> RunningLocalDaemon(const fs::path& dir) {
  ASSIGN_OR_RETURN(std::optional<DaemonRecord> record, ReadDaemonRecord(dir));
  if (!record || !ProcessMatches(*record)) return std::nullopt;
  return record;
}

absl::StatusOr<std::optional<DaemonRecord>> StopLocalDaemon(const fs::path& dir,
                                                            const DaemonWaitEnv& wait) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return std::nullopt;
  ASSIGN_OR_RETURN(DirLock lock, DirLock::Acquire(dir));
  ASSIGN_OR_RETURN(std::optional<DaemonRecord> record, ReadDaemonRecord(dir));
  if (!record || !ProcessMatches(*record)) {
    RemoveDaemonRecord(dir);
    return std::nullopt;
  }
  if (::kill(record->pid, SIGTERM) != 0 && errno != ESRCH) {
    return absl::PermissionDeniedError(absl::StrCat("cannot signal the local berthd (pid ",
                                                    record->pid, "): ", std::strerror(errno)));
  }
  SteadyTime deadline = wait.clock->Now() + wait.stop_timeout;
  while (ProcessMatches(*record)) {
    if (wait.clock->Now() >= deadline) {
      return absl::DeadlineExceededError(
          WithLogTail(absl::StrCat("the local berthd (pid ", record->pid,
                                   ") is still stopping after ", wait.stop_timeout.count(), " s"),
                      dir / kLogFile));
    }
    wait.sleep(wait.interval);
  }
  RemoveDaemonRecord(dir);
  return record;
}

}  // namespace berth::cli
