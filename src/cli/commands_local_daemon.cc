// `berth local-daemon ...`: start, status and stop of the per-user berthd that `--local`
// commands talk to (local_daemon.h, docs/local.md).

#include "cli/command_support.h"
#include "cli/local_daemon.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

using nlohmann::json;

struct NoOptions {};

absl::Status Start(Session& session, const NoOptions&) {
  ASSIGN_OR_RETURN(LocalDaemonSettings settings, session.LocalSettings());
  ASSIGN_OR_RETURN(ClientConfig config, EnsureLocalDaemon(settings, session.MakeDaemonWaitEnv()));
  session.out() << config.url << "\n" << std::flush;
  return absl::OkStatus();
}

struct StatusOptions {};

absl::Status Status(Session& session, const StatusOptions& o) {
  ASSIGN_OR_RETURN(LocalDaemonSettings settings, session.LocalSettings());
  ASSIGN_OR_RETURN(std::optional<DaemonRecord> record, RunningLocalDaemon(settings.dir));
  json status = {{"running", record.has_value()},
                 {"data_dir", settings.dir.string()},
                 {"log_file", (settings.dir / "berthd.log").string()}};
  if (record) {
    status["url"] = record->url;
    status["pid"] = record->pid;
    status["responding"] = DaemonAnswers(record->url);
  }
  return session.Print(status, ResourceKind::kOther);
}

absl::Status Stop(Session& session, const NoOptions&) {
  ASSIGN_OR_RETURN(LocalDaemonSettings settings, session.LocalSettings());
  ASSIGN_OR_RETURN(std::optional<DaemonRecord> stopped,
                   StopLocalDaemon(settings.dir, session.MakeDaemonWaitEnv()));
  if (stopped) {
    session.err() << "Stopped the local berthd (pid " << stopped->pid << ") and its instances\n";
  } else {
    session.err() << "No local berthd is running (" << settings.dir.string() << ")\n";
  }
  session.err() << std::flush;
  return absl::OkStatus();
}

}  // namespace

void AddLocalDaemonCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "local-daemon",
      "Manage the per-user berthd that --local commands start on first use (docs/local.md)");
  group->require_subcommand(1);
  {
    CLI::App* c =
        group->add_subcommand("start", "Start the local berthd unless it runs, and print its URL");
    Bind(c, action, &Start);
  }
  {
    CLI::App* c = group->add_subcommand(
        "status", "Show whether the local berthd runs: its URL, pid, data dir and log file");
    Bind(c, action, &Status);
  }
  {
    CLI::App* c = group->add_subcommand(
        "stop",
        "Stop the local berthd (SIGTERM) and with it every local deployment's instances; "
        "waits until it is gone. Local endpoints are kept and start again with it");
    Bind(c, action, &Stop);
  }
}

}  // namespace berth::cli
