#pragma once
// `berth`: the command-line client of berthd's management API (docs/api.md), shaped like
// `az ml online-endpoint` / `az ml online-deployment`.
//
// Exit codes: 0 success, 1 the operation failed (or the server said no), 2 usage error.

#include <chrono>
#include <functional>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "cli/config.h"
#include "cli/wait.h"
#include "common/clock.h"

namespace berth::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The process around a command: streams, terminal facts, environment, time. Main fills it from
// the real process; tests fill it with string streams and fakes.
struct CliEnv {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;
  bool stdin_is_tty = false;
  bool stderr_is_tty = false;
  bool stdout_is_tty = false;  // -o jsonc/yamlc are colored only on a terminal
  EnvLookup env = ProcessEnv;
  const Clock* clock = &SystemClock::Get();
  std::function<void(std::chrono::milliseconds)> sleep;  // null: std::this_thread::sleep_for
  std::chrono::milliseconds poll_interval = kPollInterval;
  // The interpreter the local berthd (local_daemon.h) gives scoring scripts that name none,
  // compiled into the berth binary; BERTH_PYTHON overrides it.
  std::string python = "/usr/bin/python3";
  // The berth executable, relative to which berthd, berth-worker and berth's Python packages are
  // found (common/install_paths.h); "": /proc/self/exe.
  std::string self_exe;
  PackagedDaemon packaged;  // a berthd installed from the package (config.h); tests move it
};

// Runs one command line; args[0] is the program name.
int Run(const std::vector<std::string>& args, const CliEnv& env);

// The process entry point: Run with the real process around it.
// `default_python` is the interpreter compiled into the berth binary.
int Main(int argc, char** argv, const std::string& default_python = "/usr/bin/python3");

}  // namespace berth::cli
