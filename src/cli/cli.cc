#include "cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "absl/strings/str_join.h"
#include "cli/az_arguments.h"
#include "cli/command_support.h"
#include "cli/completion.h"

namespace berth::cli {
namespace {

// Whether the command chosen (the innermost subcommand parsed) was given --local.
bool LocalGiven(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  const CLI::Option* local = command->get_option_no_throw(kLocalFlag);
  return local != nullptr && local->count() > 0;
}

}  // namespace

int Run(const std::vector<std::string>& args, const CliEnv& env) {
  std::ostream& out = *env.out;
  std::ostream& err = *env.err;

  CLI::App app(
      "berth: manage berth online and batch endpoints, their deployments, models, data, "
      "computes and jobs through berthd's management API",
      "berth");
  app.require_subcommand(1);
  // Global options may follow the subcommands: `berth online-endpoint list --url ...`.
  app.fallthrough();
  app.set_version_flag("--version", "berth 0.1.0");
  std::string url;
  std::string token;
  CLI::Option* url_option =
      app.add_option("--url", url,
                     "berthd's address (default: BERTH_URL, `url` in ~/.config/berth/config, the "
                     "packaged berthd's in /etc/default/berthd, http://127.0.0.1:8080)");
  CLI::Option* token_option = app.add_option(
      "--token", token,
      "Admin token (default: BERTH_TOKEN, `token`/`token_file` in the config file, or the file "
      "BERTH_TOKEN_FILE names, e.g. <data-dir>/admin-token; for the packaged berthd, "
      "/var/lib/berth/admin-token where readable: root)");

  Action action;
  AddEndpointCommands(app, &action);
  AddDeploymentCommands(app, &action);
  AddModelCommands(app, &action);
  AddBatchEndpointCommands(app, &action);
  AddBatchDeploymentCommands(app, &action);
  AddComputeCommands(app, &action);
  AddDataCommands(app, &action);
  AddJobCommands(app, &action);
  AddLocalDaemonCommands(app, &action);
  AddAzCommonFlags(app);

  // The bash completion script's question (completion.h); not a command, so not in --help.
  if (args.size() >= 2 && args[1] == kCompleteCommand) {
    std::vector<std::string> words(args.begin() + 2, args.end());
    for (const std::string& word : CompletionCandidates(app, words)) out << word << "\n";
    return kExitOk;
  }

  absl::StatusOr<std::vector<std::string>> normalized = NormalizeAzArguments(args, app);
  if (!normalized.ok()) {
    err << "Error: " << normalized.status().message() << "\n";
    return kExitUsage;
  }
  std::vector<const char*> argv;
  argv.reserve(normalized->size());
  for (const std::string& arg : *normalized) argv.push_back(arg.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    // --help and --version end parsing with exit code 0 and print to stdout.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e, out, err);
    }
    err << "Error: " << e.what() << "\nRun with --help for usage.\n";
    return kExitUsage;
  }
  if (!action) {
    err << "Error: no command given\nRun with --help for usage.\n";
    return kExitUsage;
  }

  GlobalOptions globals;
  const AzCommonFlags common = ReadAzCommonFlags(app);
  if (common.query) {
    absl::StatusOr<jmespath::Expression> query = jmespath::Expression::Compile(*common.query);
    if (!query.ok()) {
      err << "Error: --query: " << query.status().message() << "\n";
      return kExitUsage;
    }
    globals.query = *std::move(query);
    globals.render.query_active = true;
  }
  globals.render.format = *ParseOutputFormat(common.output);  // CLI11 checked the name
  globals.render.color = env.stdout_is_tty;
  globals.output_given = common.output_given;
  if (!common.only_show_errors) {
    if (!common.ignored_scope_flags.empty()) {
      err << "Note: berth ignores " << absl::StrJoin(common.ignored_scope_flags, ", ")
          << " (no Azure scopes: the berthd of --url or the configuration is the workspace)\n";
    }
    if (common.web) {
      err << "Note: berth opens no browser for --web; the command's output (or `berth job "
             "stream` for a job) shows the same\n";
    }
  }
  if (url_option->count() > 0) globals.url = url;
  if (token_option->count() > 0) globals.token = token;
  globals.local = LocalGiven(app);
  if (globals.local && (globals.url || globals.token)) {
    err << "Error: --local talks to the per-user berthd; leave out --url and --token\n";
    return kExitUsage;
  }
  Session session(env, std::move(globals));
  absl::Status status;
  try {
    status = action(session);
  } catch (const std::exception& e) {
    // Every library error should arrive as a Status; this keeps a missed one readable.
    status = absl::InternalError(e.what());
  }
  if (status.ok()) return kExitOk;
  err << "Error: " << status.message() << "\n";
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    err << "Check the admin token: --token, BERTH_TOKEN, or BERTH_TOKEN_FILE=<data-dir>/admin-token"
           "\n";
  }
  return IsUsageError(status) ? kExitUsage : kExitFailure;
}

int Main(int argc, char** argv, const std::string& default_python) {
  std::vector<std::string> args(argv, argv + argc);
  CliEnv env;
  env.python = default_python;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.in = &std::cin;
  env.stdin_is_tty = ::isatty(STDIN_FILENO) == 1;
  env.stderr_is_tty = ::isatty(STDERR_FILENO) == 1;
  env.stdout_is_tty = ::isatty(STDOUT_FILENO) == 1;
  return Run(args, env);
}

}  // namespace berth::cli
