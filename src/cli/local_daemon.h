#pragma once
// `--local` (docs/local.md): a per-user berthd on loopback, started by the CLI on first use and
// then spoken to through the same API client as any berthd. Its data dir is the local folder
// ($BERTH_LOCAL_DIR, else $XDG_STATE_HOME/berth/local, else ~/.local/state/berth/local):
//
//   <dir>/daemon.json    url, pid and start time of the running daemon (written by the CLI)
//   <dir>/daemon.lock    flock()ed while a CLI checks, starts or stops the daemon
//   <dir>/berthd.log     the daemon's stdout and stderr (the previous start's in berthd.log.1)
//   <dir>/admin-token    written by berthd; the CLI reads it
//   ...                  berthd's own data (state.db, artifacts, instance folders)
//
// The recorded start time (/proc/<pid>/stat field 22) tells the daemon from a later process
// that got its pid, so nothing else is ever signalled.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/config.h"
#include "common/clock.h"
#include "common/install_paths.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// The local folder from the environment; FAILED_PRECONDITION when none of the variables is set.
absl::StatusOr<std::filesystem::path> LocalDaemonDir(const EnvLookup& env);

// What <dir>/daemon.json says about the running daemon.
struct DaemonRecord {
  std::string url;          // http://127.0.0.1:<port>
  int pid = 0;              // berthd's pid
  uint64_t start_time = 0;  // clock ticks after boot, /proc/<pid>/stat field 22
  bool operator==(const DaemonRecord&) const = default;
};

nlohmann::json DaemonRecordJson(const DaemonRecord& record);
// INVALID_ARGUMENT naming `file` and the field when the text is not a daemon record.
absl::StatusOr<DaemonRecord> ParseDaemonRecord(std::string_view text, const std::string& file);

// The URL of berthd's "berthd: listening on <url>" line in its output, or nullopt.
std::optional<std::string> ListeningUrl(std::string_view output);

// The start time of a live (non-zombie) process, or nullopt when there is none with that pid.
std::optional<uint64_t> ProcessStartTime(int pid);

// True when GET <url>/healthz answers 200 within a few seconds.
bool DaemonAnswers(const std::string& url);

// What a command does about the daemon `record` describes (nullopt: no daemon.json).
enum class DaemonVerdict {
  kUse,           // it runs and answers
  kStart,         // none runs: start one
  kUnresponsive,  // its process runs but does not answer (starting up, stopping, or stuck)
};
// `process_running`: the recorded pid runs with the recorded start time; `answers`: its
// GET /healthz answered 200.
DaemonVerdict JudgeDaemon(const std::optional<DaemonRecord>& record, bool process_running,
                          bool answers);

// What the local daemon is started with: the executables and the Python defaults that a
// berthd started by hand would find itself.
struct LocalDaemonSettings {
  std::filesystem::path dir;
  std::string berthd;      // $BERTH_DAEMON, else berthd beside the berth executable
  std::string worker;      // $BERTH_WORKER, else berth-worker beside the berth executable
  std::string python;      // $BERTH_PYTHON, else the build's default
  std::string python_dir;  // $BERTH_PYTHON_DIR, else berth's installed (or source) python/
};

// `compiled_python` is the build's default interpreter; `installed` are the files found
// relative to the berth executable (ResolveInstallPaths).
absl::StatusOr<LocalDaemonSettings> ResolveLocalDaemonSettings(const EnvLookup& env,
                                                               const std::string& compiled_python,
                                                               const InstallPaths& installed);

// The berthd command line of the local daemon (loopback, a free port, no scoring credentials).
std::vector<std::string> LocalDaemonArgv(const LocalDaemonSettings& settings);

// How the daemon functions wait and report.
struct DaemonWaitEnv {
  const Clock* clock = &SystemClock::Get();
  std::function<void(std::chrono::milliseconds)> sleep;  // required
  std::chrono::milliseconds interval{50};
  std::chrono::seconds start_timeout{60};
  std::chrono::seconds stop_timeout{120};  // berthd stops its instances first
  std::ostream* progress = nullptr;        // "Started the local berthd ..." lines; may be null
};

// The running daemon's URL and admin token; starts the daemon first when none runs. Holds
// <dir>/daemon.lock meanwhile, so CLIs started together start one daemon.
absl::StatusOr<ClientConfig> EnsureLocalDaemon(const LocalDaemonSettings& settings,
                                               const DaemonWaitEnv& wait);

// The running daemon (checked: process and /healthz), or nullopt when none runs.
absl::StatusOr<std::optional<DaemonRecord>> RunningLocalDaemon(const std::filesystem::path& dir);

// Stops the daemon with SIGTERM (berthd then stops its instances) and waits until it is gone.
// Returns the record of the daemon stopped, or nullopt when none ran.
absl::StatusOr<std::optional<DaemonRecord>> StopLocalDaemon(const std::filesystem::path& dir,
                                                            const DaemonWaitEnv& wait);

}  // namespace berth::cli
