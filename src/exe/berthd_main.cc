// berthd: the berth server — management API, data plane, supervisor of instance processes.

#include <pwd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "auth/secrets.h"
#include "auth/session_store.h"
#include "batch/batch_api.h"
#include "batch/batch_service.h"
#include "batch/local/local_worker_launcher.h"
#include "batch/scheduler.h"
#include "common/install_paths.h"
#include "common/random.h"
#include "compute/local/local_process_driver.h"
#include "controlplane/artifact_store.h"
#include "controlplane/management_api.h"
#include "controlplane/management_service.h"
#include "controlplane/model_registry.h"
#include "controlplane/supervisor.h"
#include "controlplane/supervisor/launcher.h"
#include "controlplane/supervisor/prober.h"
#include "gateway/access_log.h"
#include "gateway/data_plane.h"
#include "gateway/grpc/grpc_gateway.h"
#include "gateway/metrics.h"
#include "gateway/metrics_history.h"
#include "gateway/router.h"
#include "http/errors.h"
#include "http/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "state/sqlite/sqlite_state_store.h"
#include "studio/static_files.h"
#include "studio/studio_handler.h"

namespace fs = std::filesystem;
using namespace berth;

namespace {

// "host:port" or "[v6-host]:port" into its parts; the port may be 0.
absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(text.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError("'" + text + "' is not host:port");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, port);
}

constexpr char kAdminTokenSetting[] = "admin_token_sha256";

std::string DefaultDataDir() {
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
    return (fs::path(xdg) / "berth").string();
  }
  const char* home = std::getenv("HOME");
  return (fs::path(home ? home : ".") / ".local" / "share" / "berth").string();
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" ||
         absl::StartsWith(host, "127.");
}

// Creates the admin token on first start: only its hash is kept; the token itself is written
// once to <data-dir>/admin-token (0600).
absl::StatusOr<std::string> EnsureAdminToken(state::StateStore& store, const fs::path& data_dir) {
  auto existing = store.GetSetting(kAdminTokenSetting);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return **existing;
  std::string token = "berth_" + auth::NewSecret(32);
  fs::path file = data_dir / "admin-token";
  fs::path tmp = data_dir / ".admin-token.tmp";
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return absl::InternalError("cannot write " + tmp.string());
    std::string line = token + "\n";
    bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::fsync(fd);
    ::close(fd);
    if (!ok) return absl::InternalError("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) return absl::InternalError("cannot create " + file.string() + ": " + ec.message());
  std::string hash = auth::Sha256Hex(token);
  if (absl::Status s = store.PutSetting(kAdminTokenSetting, hash); !s.ok()) return s;
  return hash;
}

// Each proxied request holds a client connection and one to an instance, and state, logs and
// instance pipes need descriptors too: half the open-file limit keeps accept() clear of EMFILE.
size_t DefaultMaxConnections() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 10000;
  return std::max<size_t>(limit.rlim_cur / 2, 16);
}

// Headers every berthd answer carries: a new x-request-id (a client's value is replaced, as on
// Azure) and the client's x-ms-client-request-id echoed.
void SetRequestIds(const http::Request& req, http::Response& res, const std::string& request_id) {
  res.set("x-request-id", request_id);
  if (auto it = req.find("x-ms-client-request-id"); it != req.end()) {
    res.set("x-ms-client-request-id", std::string(it->value()).substr(0, 100));
  }
}

// Holds an exclusive flock on <data-dir>/berthd.lock for the life of the process (the
// descriptor is close-on-exec, so instances never inherit it) and writes our pid into it.
// FAILED_PRECONDITION naming the holder when another berthd has it.
absl::Status LockDataDir(const fs::path& dir) {
  fs::path file = dir / "berthd.lock";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError("cannot open " + file.string() + ": " + strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    char buffer[32] = {};
    ssize_t n = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
    ::close(fd);
    if (error != EWOULDBLOCK) {
      return absl::InternalError("cannot lock " + file.string() + ": " + strerror(error));
    }
    std::string holder = n > 0 ? std::string(buffer, n) : "";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return absl::FailedPreconditionError(
        "another berthd" + (holder.empty() ? std::string() : " (pid " + holder + ")") +
        " is using --data-dir " + dir.string() +
        "; stop it first, or give this one another --data-dir");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    spdlog::warn("cannot write the pid into {}", file.string());
  }
  return absl::OkStatus();  // fd stays open (and locked) until the process exits
}

int Fail(const std::string& message) {
  std::cerr << "berthd: " << message << std::endl;
  return 1;
}

// Runs `command` (a shell line) and returns its exit status and combined output. Startup only.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, std::strerror(errno)};
  char buffer[512];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The sandbox instances run in (docs/architecture.md, "Instance sandbox"), checked once: the
// tools exist and this host lets bubblewrap create the namespaces. Under root, instances run as
// `instance_user`, created as a system user when it is the default and missing.
absl::StatusOr<compute::local::SandboxHost> SetUpSandbox(const std::string& instance_user,
                                                         bool default_user) {
  compute::local::SandboxHost host;
  host.privileged = ::geteuid() == 0;
  host.system = compute::local::SystemEntries();
  for (const std::string* tool : {&host.bwrap, &host.tini, &host.setpriv}) {
    if (::access(tool->c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(
          *tool +
          " is missing: instances run in a bubblewrap sandbox (Debian packages "
          "bubblewrap, tini, util-linux; scripts/install-deps installs them), or start "
          "berthd with --sandbox=none to run them unsandboxed");
    }
  }
  auto [status, output] = RunCommand(
      host.bwrap + (host.privileged ? "" : " --unshare-user") +
      " --unshare-pid --unshare-ipc --unshare-net --ro-bind / / --proc /proc --dev /dev -- "
      "/bin/true");
  if (status != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return absl::FailedPreconditionError(
        "this host does not let bubblewrap create the namespaces instances run in (" + output +
        "); berthd refuses to run instances unsandboxed unless started with --sandbox=none");
  }
  if (!host.privileged) return host;
  struct passwd* user = ::getpwnam(instance_user.c_str());
  if (user == nullptr && default_user) {
    auto [added, why] = RunCommand(
        "useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin " +
        instance_user);
    user = ::getpwnam(instance_user.c_str());
    // Another berthd starting at the same time may have created it first.
    if (added != 0 && user == nullptr) {
      return absl::FailedPreconditionError("cannot create the instance user '" + instance_user +
                                           "': " + why);
    }
    if (added == 0)
      spdlog::info("created the system user '{}' that instances run as", instance_user);
  }
  if (user == nullptr) {
    return absl::InvalidArgumentError("--instance-user: no user '" + instance_user + "'");
  }
  if (user->pw_uid == 0) {
    return absl::InvalidArgumentError("--instance-user: '" + instance_user +
                                      "' is root; instances must run unprivileged");
  }
  host.user = compute::local::InstanceUser{user->pw_uid, user->pw_gid, instance_user};
  return host;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "berthd: serves berth online and batch endpoints (management API, scoring, instances, "
      "batch jobs)"};
  std::string data_dir = DefaultDataDir();
  std::string host = "127.0.0.1";
  int port = 8080;
  int grpc_port = -1;
  std::string log_level = "info";
  uint64_t max_body = 100ull << 20;
  uint64_t max_response_body = 100ull << 20;
  int data_plane_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  size_t max_connections = DefaultMaxConnections();
  int drain_timeout_s = 30;
  int token_lifetime_s = 3600;
  std::string python = BERTH_DEFAULT_PYTHON;
  // Installed beside this executable (or in the build tree it runs from): install_paths.h.
  const InstallPaths installed = ResolveInstallPaths(SelfExecutable());
  std::string python_dir = installed.python_dir.string();
  std::string studio_dir = installed.studio_dir.string();
  std::string worker = installed.worker.string();
  app.add_option("--data-dir", data_dir, "State, artifacts, instance folders and logs")
      ->capture_default_str();
  app.add_option("--host", host, "Address to listen on (non-loopback: no TLS yet, warned)")
      ->capture_default_str();
  app.add_option("--port", port, "Port to listen on; 0 picks a free one and prints it")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--grpc-port", grpc_port,
                 "Open Inference Protocol gRPC port for berth-worker deployments; 0 picks a free "
                 "one and prints it, -1 turns it off")
      ->capture_default_str()
      ->check(CLI::Range(-1, 65535));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--max-request-body", max_body, "Largest request body in bytes (else 413)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-response-body", max_response_body,
                 "Largest response body accepted from an instance, in bytes (else 502)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--data-plane-threads", data_plane_threads,
                 "Threads serving connections and routing requests (default: the number of "
                 "cores); each runs its own event loop and instance connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-connections", max_connections,
                 "Open client connections at most; more are answered 503 (default: half the "
                 "open-file limit)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--drain-timeout", drain_timeout_s,
                 "On SIGTERM or SIGINT, seconds to let requests in flight finish before "
                 "instances are stopped")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--token-lifetime", token_lifetime_s, "Lifetime of aml_token tokens, seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--python", python,
                 "Python interpreter for scoring-script and MLflow deployments that "
                 "name none "
                 "(environment.python)")
      ->capture_default_str();
  app.add_option("--python-dir", python_dir,
                 "Folder of berth's Python packages (berth_runner, azureml and "
                 "inference_schema shims); default: <bin>/../lib/berth/python when installed, "
                 "else the source tree's python/")
      ->capture_default_str();
  app.add_option("--studio-dir", studio_dir,
                 "Folder of the studio's files, served at /studio/ on the main listener; "
                 "default: <bin>/../share/berth/studio when installed, else <build>/studio")
      ->capture_default_str();
  app.add_option("--worker", worker,
                 "The berth-worker executable, which serves triton_model and MLflow XGBoost "
                 "deployments")
      ->capture_default_str();
  std::string sandbox_mode = "bwrap";
  app.add_option("--sandbox", sandbox_mode,
                 "How instances are isolated: bwrap (own mount, PID, IPC and network "
                 "namespaces; berthd refuses to start instances where that fails) or none "
                 "(plain child processes, warned)")
      ->capture_default_str()
      ->check(CLI::IsMember({"bwrap", "none"}));
  const std::string default_instance_user = "berth-instance";
  std::string instance_user = default_instance_user;
  app.add_option("--instance-user", instance_user,
                 "When berthd runs as root: the unprivileged user instances run as (the default "
                 "one is created as a system user if missing)")
      ->capture_default_str();
  std::string socket_dir;
  app.add_option("--socket-dir", socket_dir,
                 "Folder for the instances' Unix sockets, only berthd's user may open it "
                 "(default: a new private folder under $TMPDIR, removed at exit)");
  std::string private_listen;
  app.add_option("--private-listen", private_listen,
                 "A second listener for the same routes, marked private: a Unix socket path "
                 "(created 0600) or host:port. Endpoints with public_network_access disabled "
                 "score only here (403 on the public listener)");
  int batch_max_workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--batch-max-workers", batch_max_workers,
                 "Batch worker processes at most, over all jobs (default: the number of cores); "
                 "jobs beyond it wait Queued, normal priority before low")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  std::string access_log_path;
  app.add_option("--access-log", access_log_path,
                 "JSON-lines access log, one line per data-plane request (docs/metrics.md); "
                 "'off' disables it (default: <data-dir>/logs/access.log)");
  uint64_t access_log_max_mb = 100;
  app.add_option("--access-log-max-mb", access_log_max_mb,
                 "Size in MiB at which the access log rotates")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  size_t access_log_files = 5;
  app.add_option("--access-log-files", access_log_files,
                 "Rotated access-log files kept besides the current one")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1000}));
  std::string metrics_listen;
  app.add_option("--metrics-listen", metrics_listen,
                 "A second listener, host:port, serving only GET /metrics and without "
                 "credentials, for a Prometheus scraper on a private network (port 0 picks a "
                 "free one and prints it); the main listener's /metrics needs the admin token");
  bool no_scoring_auth = false;
  app.add_flag("--no-scoring-auth", no_scoring_auth,
               "Score without a key or token, whatever an endpoint's auth_mode (loopback --host "
               "only; the local berthd that `berth ... --local` starts uses it)");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("berthd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  if (no_scoring_auth && !IsLoopback(host)) {
    return Fail("--no-scoring-auth is for a loopback --host only, not " + host);
  }
  if (no_scoring_auth) {
    spdlog::info("--no-scoring-auth: scoring requests need no credential");
  }
  if (!IsLoopback(host)) {
    spdlog::warn(
        "*** listening on {} which is not a loopback address: berthd has no TLS "
        "yet, so "
        "keys, tokens and the admin token cross the network in the clear ***",
        host);
  }

  fs::path dir(data_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create --data-dir " + dir.string() + ": " + ec.message());
  // One berthd per data dir: a second one would kill the first one's instances as orphans and
  // run duplicates against the same database. Nothing else is touched before this lock.
  if (absl::Status locked = LockDataDir(dir); !locked.ok()) return Fail(locked.ToString());
  ::chmod(dir.c_str(), 0700);

  auto secrets = auth::SecretBox::OpenOrCreate(dir / "secret.key");
  if (!secrets.ok()) return Fail(secrets.status().ToString());
  auto store = state::SqliteStateStore::Open(dir / "state.db");
  if (!store.ok()) return Fail(store.status().ToString());
  auto admin_hash = EnsureAdminToken(**store, dir);
  if (!admin_hash.ok()) return Fail(admin_hash.status().ToString());

  // Instances: sandboxed unless --sandbox=none, reached through Unix sockets in a folder only
  // berthd's user may open.
  std::optional<compute::local::SandboxHost> sandbox;
  if (sandbox_mode == "bwrap") {
    auto host_sandbox = SetUpSandbox(instance_user, instance_user == default_instance_user);
    if (!host_sandbox.ok()) return Fail(std::string(host_sandbox.status().message()));
    sandbox = *std::move(host_sandbox);
    spdlog::info("instances run sandboxed (bubblewrap){}",
                 sandbox->user ? " as user " + sandbox->user->name : "");
    if (!sandbox->privileged) {
      spdlog::warn(
          "berthd is not root: instances with egress_public_network_access enabled share the "
          "host's network (outbound access through a network namespace of their own needs "
          "root)");
    }
  } else {
    spdlog::warn(
        "*** --sandbox=none: instances run unsandboxed as berthd's user and can read its data "
        "dir ***");
  }
  bool own_socket_dir = socket_dir.empty();
  if (own_socket_dir) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/berthd-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Fail("cannot create a socket folder: " + std::string(strerror(errno)));
    }
    socket_dir = pattern;
  } else {
    fs::create_directories(socket_dir, ec);
    if (ec) return Fail("cannot create --socket-dir " + socket_dir + ": " + ec.message());
  }
  ::chmod(socket_dir.c_str(), 0700);
  struct RemoveSocketDir {
    std::string path;
    bool own;
    ~RemoveSocketDir() {
      std::error_code ignored;
      if (own) fs::remove_all(path, ignored);
    }
  } remove_socket_dir{socket_dir, own_socket_dir};

  compute::LocalProcessDriver driver({.registry_dir = dir / "run", .sandbox = sandbox});
  if (auto swept = driver.SweepOrphans(); !swept.ok()) {
    spdlog::warn("cannot clean up instances of an earlier berthd: {}", swept.status().ToString());
  } else if (*swept > 0) {
    spdlog::info("stopped {} instance(s) left behind by an earlier berthd", *swept);
  }

  // Batch workers have a driver of their own: their exits are collected by the batch launcher,
  // not the supervisor.
  compute::LocalProcessDriver batch_driver({.registry_dir = dir / "run-batch", .sandbox = sandbox});
  if (auto swept = batch_driver.SweepOrphans(); !swept.ok()) {
    spdlog::warn("cannot clean up batch workers of an earlier berthd: {}",
                 swept.status().ToString());
  } else if (*swept > 0) {
    spdlog::info("stopped {} batch worker(s) left behind by an earlier berthd", *swept);
  }

  // Data-plane threads: one event loop each (Envoy-style); connections are spread
  // over them and each keeps its own instance connections. The supervisor has a
  // thread of its own (`control_io`: tick, probes) and a pool for its blocking jobs
  // (`supervisor_pool`: launches, storage writes, folder removal); management calls
  // do their blocking work on `blocking_pool`. Nothing the control plane does runs
  // on a data-plane thread.
  using WorkGuard = http::asio::executor_work_guard<http::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<http::asio::io_context>> data_plane_io;
  std::vector<http::asio::io_context*> data_plane_contexts;
  std::vector<WorkGuard> data_plane_work;
  for (int i = 0; i < data_plane_threads; ++i) {
    data_plane_io.push_back(std::make_unique<http::asio::io_context>(1));
    data_plane_contexts.push_back(data_plane_io.back().get());
    data_plane_work.push_back(http::asio::make_work_guard(*data_plane_io.back()));
  }
  http::asio::io_context& io = *data_plane_io.front();  // accepts connections
  http::asio::io_context control_io(1);
  http::asio::thread_pool supervisor_pool(4);
  http::asio::thread_pool blocking_pool(2);
  DefaultRandom random;
  gateway::Metrics metrics;
  // Declared before the router, which writes to it, so that it outlives the router.
  std::unique_ptr<gateway::RotatingAccessLog> access_log;
  if (access_log_path != "off") {
    fs::path path =
        access_log_path.empty() ? dir / "logs" / "access.log" : fs::path(access_log_path);
    auto opened = gateway::RotatingAccessLog::Open(
        {.path = path, .max_bytes = access_log_max_mb << 20, .rotated_files = access_log_files});
    if (!opened.ok()) return Fail("--access-log: " + opened.status().ToString());
    access_log = *std::move(opened);
    spdlog::info("access log {}", path.string());
  }
  gateway::RouterOptions router_options;
  router_options.require_credentials = !no_scoring_auth;  // the per-user local daemon
  gateway::Router router(SystemClock::Get(), random, metrics, router_options);
  router.SetAccessLog(access_log.get());
  gateway::DataPlaneOptions data_plane_options;
  data_plane_options.client.max_response_bytes = max_response_body;
  data_plane_options.new_request_id = NewGuid;
  gateway::DataPlane data_plane(router, SystemClock::Get(), data_plane_options);
  for (auto* context : data_plane_contexts) data_plane.AddThread(*context);
  controlplane::ArtifactStore artifacts(dir);
  controlplane::ModelRegistry models(**store, artifacts, SystemClock::Get());
  // The studio: its files, and sign-in sessions kept in memory only (a restart signs out).
  if (!fs::is_regular_file(fs::path(studio_dir) / "index.html")) {
    spdlog::warn("--studio-dir {} has no index.html: /studio/ will answer 404", studio_dir);
  }
  studio::StaticFiles studio_files(studio_dir);
  auth::SessionStore studio_sessions(SystemClock::Get(), *admin_hash);
  studio::StudioHandler studio_handler(studio_files, studio_sessions, blocking_pool);

  http::ServerOptions server_options;
  server_options.host = host;
  server_options.port = port;
  server_options.max_body_bytes = max_body;
  server_options.max_connections = max_connections;
  // Scoring requests are refused from their headers (no valid credential, no such
  // route) before any body byte is read.
  server_options.on_headers =
      [&data_plane](const http::Request& head,
                    const http::RequestContext& context) -> std::optional<http::Response> {
    if (!gateway::DataPlane::Matches(head.target())) return std::nullopt;
    std::optional<http::Response> refused = data_plane.CheckHeaders(head, context);
    if (refused) SetRequestIds(head, *refused, std::string((*refused)["x-request-id"]));
    return refused;
  };

  // The service needs the URL for scoring_uri and the supervisor needs the service's
  // notifications, so the listener is bound first and the handler resolves them
  // late.
  controlplane::ManagementService* service_ptr = nullptr;
  controlplane::ManagementApi* api_ptr = nullptr;
  http::Handler handler =
      [&](http::Request& req,
          const http::RequestContext& context) -> http::Awaitable<http::Response> {
    std::string request_id = NewGuid();
    req.set("x-request-id", request_id);  // reserved for the server, as on Azure
    std::string client_id;
    if (auto it = req.find("x-ms-client-request-id"); it != req.end()) {
      client_id = std::string(it->value()).substr(0, 100);
    }
    http::Response res;
    std::string_view target = req.target();
    if (gateway::DataPlane::Matches(target)) {
      res = co_await data_plane.Handle(req, context);
    } else if (controlplane::ManagementApi::Matches(target)) {
      res = co_await api_ptr->Handle(req);
    } else if (studio::StudioHandler::Matches(target)) {
      res = co_await studio_handler.Handle(req);
    } else if (target == "/" || target == "/healthz") {
      res = http::MakeResponse(req, http::bhttp::status::ok, "berthd is running\n", "text/plain");
    } else {
      res = http::ErrorResponse(req, absl::NotFoundError("no route " + std::string(target) +
                                                         "; see /api/v1/openapi.json"));
    }
    res.set("x-request-id", request_id);
    if (!client_id.empty()) res.set("x-ms-client-request-id", client_id);
    co_return res;
  };
  http::HttpServer server(io, server_options, handler, data_plane_contexts);
  auto bound = server.Start();
  if (!bound.ok()) return Fail(bound.status().ToString());
  // The private listener serves the same routes; endpoints with public_network_access disabled
  // answer only here.
  std::optional<http::HttpServer> private_server;
  if (!private_listen.empty()) {
    http::ServerOptions private_options = server_options;
    private_options.private_listener = true;
    if (private_listen.find('/') != std::string::npos) {
      private_options.unix_socket = private_listen;
    } else {
      size_t colon = private_listen.rfind(':');
      int private_port = 0;
      if (colon == std::string::npos || colon == 0 ||
          !absl::SimpleAtoi(private_listen.substr(colon + 1), &private_port) || private_port < 0 ||
          private_port > 65535) {
        return Fail("--private-listen: '" + private_listen +
                    "' is neither a Unix socket path nor host:port");
      }
      private_options.host = private_listen.substr(0, colon);
      if (private_options.host.size() > 1 && private_options.host.front() == '[') {
        private_options.host = private_options.host.substr(1, private_options.host.size() - 2);
      }
      private_options.port = private_port;
    }
    private_server.emplace(io, private_options, handler, data_plane_contexts);
    auto private_bound = private_server->Start();
    if (!private_bound.ok()) return Fail("--private-listen: " + private_bound.status().ToString());
    if (private_options.unix_socket.empty()) {
      private_listen = private_options.host + ":" + std::to_string(*private_bound);
    }
  }
  // The metrics listener: GET /metrics without credentials, nothing else.
  std::optional<http::HttpServer> metrics_server;
  if (!metrics_listen.empty()) {
    auto address = ParseHostPort(metrics_listen);
    if (!address.ok()) return Fail("--metrics-listen: " + std::string(address.status().message()));
    http::ServerOptions metrics_options;
    metrics_options.host = address->first;
    metrics_options.port = address->second;
    metrics_options.max_body_bytes = 1 << 10;
    metrics_options.max_connections = 64;
    http::Handler metrics_handler =
        [&metrics](http::Request& req,
                   const http::RequestContext&) -> http::Awaitable<http::Response> {
      std::string_view target = req.target();
      if (target.substr(0, target.find('?')) != "/metrics") {
        co_return http::ErrorResponse(
            req, absl::NotFoundError("this listener serves only GET /metrics"));
      }
      if (req.method() != http::bhttp::verb::get) {
        http::Response res = http::ErrorResponse(req, http::bhttp::status::method_not_allowed,
                                                 "MethodNotAllowed", "/metrics answers GET only");
        res.set(http::bhttp::field::allow, "GET");
        co_return res;
      }
      co_return http::MakeResponse(req, http::bhttp::status::ok, metrics.RenderPrometheus(),
                                   gateway::Metrics::kContentType);
    };
    metrics_server.emplace(io, metrics_options, metrics_handler);
    auto metrics_bound = metrics_server->Start();
    if (!metrics_bound.ok()) return Fail("--metrics-listen: " + metrics_bound.status().ToString());
    std::string metrics_host = metrics_options.host.find(':') != std::string::npos
                                   ? "[" + metrics_options.host + "]"
                                   : metrics_options.host;
    metrics_listen = metrics_host + ":" + std::to_string(*metrics_bound);
  }
  std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string base_url = "http://" + shown_host + ":" + std::to_string(*bound);

  std::optional<gateway::GrpcGateway> grpc_gateway;
  if (grpc_port >= 0) {
    grpc_gateway.emplace(router, data_plane_contexts, SystemClock::Get());
    auto grpc_bound = grpc_gateway->Start(host, grpc_port);
    if (!grpc_bound.ok()) return Fail(grpc_bound.status().ToString());
    grpc_port = *grpc_bound;
  }

  controlplane::LocalLauncherOptions launcher_options;
  launcher_options.python = python;
  launcher_options.python_dir = python_dir;
  launcher_options.worker = worker;
  launcher_options.socket_root = socket_dir;
  launcher_options.sandbox = sandbox.has_value();
  launcher_options.user_mode_network = sandbox && sandbox->privileged;
  if (sandbox && sandbox->user) {
    launcher_options.instance_owner = std::make_pair(sandbox->user->uid, sandbox->user->gid);
  }
  controlplane::LocalLauncher launcher(artifacts, &models, driver, launcher_options);
  controlplane::HttpProber prober(control_io.get_executor());
  controlplane::SupervisorOptions supervisor_options;
  supervisor_options.data_dir = dir;
  controlplane::Supervisor supervisor(control_io.get_executor(), supervisor_pool.get_executor(),
                                      **store, *secrets, launcher, prober, driver, router,
                                      SystemClock::Get(), supervisor_options);
  controlplane::ServiceOptions service_options;
  service_options.base_url = base_url;
  service_options.token_lifetime = std::chrono::seconds(token_lifetime_s);
  service_options.python = python;
  controlplane::ManagementService service(
      **store, *secrets, artifacts, SystemClock::Get(), service_options,
      [&](const std::string& endpoint, const std::string& deployment) {
        supervisor.Notify(endpoint, deployment);
      });
  service.SetInstanceObserver(&supervisor);
  supervisor.SetMetrics(&metrics);
  router.SetDemandObserver(&supervisor);
  supervisor.SetRecorder(&service);
  service.SetModelRegistry(&models);
  controlplane::ManagementApi api(service, artifacts, metrics, *admin_hash, blocking_pool);
  // The last hour of each deployment's request counters, sampled on the control thread, for
  // the studio's charts.
  gateway::MetricsHistory metrics_history(SystemClock::Get());
  api.SetMetricsHistory(&metrics_history);
  api.SetSessions(&studio_sessions);

  // Batch: jobs run on workers started for them (docs/batch.md), sandboxed like instances, with
  // socket folders of their own under <socket-dir>/batch.
  controlplane::LocalLauncherOptions batch_launcher_options = launcher_options;
  batch_launcher_options.socket_root = fs::path(socket_dir) / "batch";
  fs::create_directories(batch_launcher_options.socket_root, ec);
  ::chmod(batch_launcher_options.socket_root.c_str(), 0700);
  controlplane::LocalLauncher batch_launcher(artifacts, &models, batch_driver,
                                             batch_launcher_options);
  batch::LocalWorkerLauncher worker_launcher(batch_launcher, batch_driver);
  batch::JobRepository jobs(**store);
  batch::SchedulerOptions scheduler_options;
  scheduler_options.max_workers = batch_max_workers;
  scheduler_options.jobs_root = dir / "jobs";
  scheduler_options.metrics = &metrics;
  batch::Scheduler scheduler(jobs, worker_launcher, SystemClock::Get(), scheduler_options);
  batch::BatchServiceOptions batch_options;
  batch_options.data_dir = dir;
  batch_options.base_url = base_url;
  batch_options.metrics = &metrics;
  batch_options.python = python;
  batch::BatchService batch_service(**store, artifacts, &models, SystemClock::Get(), random,
                                    scheduler, batch_options);
  if (absl::Status ready = batch_service.Init(); !ready.ok()) return Fail(ready.ToString());
  batch::BatchApi batch_api(batch_service);
  api.AddRoutes(&batch_api);
  service_ptr = &service;
  api_ptr = &api;
  supervisor.Start();
  metrics_history.Start(control_io.get_executor(), metrics);
  if (absl::Status resumed = scheduler.Start(); !resumed.ok()) {
    return Fail("cannot resume batch jobs: " + resumed.ToString());
  }

  // Signals arrive on the control thread; the stop sequence runs on this (main)
  // thread, which serves nothing, so it may wait for the data-plane and control
  // threads. The first signal drains: no new connections, requests in flight finish
  // (up to --drain-timeout), then instances stop. A second signal stops at once.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  int signals_seen = 0;  // guarded by stop_mu
  bool drained = false;  // guarded by stop_mu
  http::asio::signal_set signals(control_io, SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        spdlog::info("signal {}", signal);
        {
          std::lock_guard lock(stop_mu);
          ++signals_seen;
        }
        stop_cv.notify_all();
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  std::vector<std::thread> threads;
  for (auto* context : data_plane_contexts) {
    threads.emplace_back([context] { context->run(); });
  }
  threads.emplace_back([&control_io] { control_io.run(); });

  std::cout << "berthd: admin token in " << (dir / "admin-token").string() << "\n"
            << "berthd: listening on " << base_url << "\n"
            << "berthd: studio at " << base_url << "/studio/\n";
  if (grpc_gateway) std::cout << "berthd: grpc port " << grpc_port << "\n";
  if (private_server) std::cout << "berthd: private listener " << private_listen << "\n";
  if (metrics_server) std::cout << "berthd: metrics listener " << metrics_listen << "\n";
  std::cout << std::flush;
  spdlog::info("data dir {}", dir.string());
  {
    std::unique_lock lock(stop_mu);
    stop_cv.wait(lock, [&] { return signals_seen > 0; });
  }
  spdlog::info("finishing requests in flight (at most {} s), then exiting", drain_timeout_s);
  http::asio::post(io, [&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(drain_timeout_s);
    auto both_drained = std::make_shared<int>(private_server ? 2 : 1);
    auto on_drained = [&, both_drained] {
      if (--*both_drained > 0) return;
      {
        std::lock_guard lock(stop_mu);
        drained = true;
      }
      stop_cv.notify_all();
    };
    server.Drain(deadline, on_drained);
    if (private_server) private_server->Drain(deadline, on_drained);
  });
  {
    std::unique_lock lock(stop_mu);
    stop_cv.wait(lock, [&] { return drained || signals_seen > 1; });
    if (!drained) spdlog::warn("second signal: not waiting for requests in flight");
  }
  spdlog::info("stopping instances and exiting");
  if (grpc_gateway) grpc_gateway->Shutdown();
  std::promise<void> stopped;
  http::asio::post(io, [&] {
    server.Stop();
    if (private_server) private_server->Stop();
    if (metrics_server) metrics_server->Stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  metrics_history.Stop();
  router.StopMirroring();
  scheduler.Stop();  // unfinished jobs resume at the next start
  supervisor.Shutdown();
  data_plane_work.clear();
  for (auto& context : data_plane_io) context->stop();
  control_io.stop();
  for (auto& t : threads) t.join();
  supervisor_pool.join();
  blocking_pool.join();
  router.SetAccessLog(nullptr);
  (void)service_ptr;
  return 0;
}
