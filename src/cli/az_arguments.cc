#include "cli/az_arguments.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_support.h"
#include "cli/output.h"

namespace berth::cli {
namespace {

constexpr char kOutputOption[] = "--output";
constexpr char kQueryOption[] = "--query";
constexpr char kWebFlag[] = "--web";
constexpr char kOnlyShowErrorsFlag[] = "--only-show-errors";
constexpr char kVersionFlag[] = "--version";

// The `az` scope flags: every `az ml` command needs them; berth has no Azure scopes.
constexpr const char* kScopeOptions[] = {"--resource-group", "--workspace-name", "--subscription"};

// `az ml` commands berth knows but does not run, and why, with what to use instead. A group
// entry ("workspace") covers every command in it.
struct Unsupported {
  const char* command;  // "workspace", "model package"
  const char* reason;
};
constexpr Unsupported kUnsupportedCommands[] = {
    {"workspace",
     "one berthd is one workspace, so there is nothing to create or show; -w/--workspace-name "
     "is accepted and ignored"},
    {"environment",
     "environments are not registered: give `environment` inline in the deployment YAML "
     "(berth runs scoring scripts in an existing Python interpreter and checks the conda file "
     "against it)"},
    {"component", "berth runs no pipelines"},
    {"schedule", "berth runs no pipelines or scheduled jobs"},
    {"datastore",
     "data is uploaded with `berth data create --path` or given as local paths; there are no "
     "datastores"},
    {"connection", "berth has no workspace connections"},
    {"registry", "models are registered with berthd itself (`berth model create`)"},
    {"feature-store", "berth has no feature store"},
    {"feature-set", "berth has no feature store"},
    {"feature-store-entity", "berth has no feature store"},
    {"marketplace-subscription", "berth serves your own models only"},
    {"serverless-endpoint", "use an online endpoint with a deployment of your model"},
    {"capability-host", "berth has no capability hosts"},
    {"model package",
     "berth serves the model folder directly: deploy it with `berth online-deployment create`"},
    {"model archive", "model versions are deleted with `berth model delete` when unused"},
    {"model restore", "model versions are deleted with `berth model delete` when unused"},
    {"model share", "berth has no registries"},
    {"model update", "register a new version with `berth model create` instead"},
    {"model download", "the model's files are where you registered them from"},
    {"data archive", "data versions cannot be archived"},
    {"data restore", "data versions cannot be archived"},
    {"data share", "berth has no registries"},
    {"data import", "register local files with `berth data create --path`"},
    {"data mount", "batch jobs read the files themselves"},
    {"data update", "register a new version with `berth data create` instead"},
    {"data list-materialization-status", "berth has no feature store"},
    {"job create",
     "berth runs the jobs of batch endpoints: start one with `berth batch-endpoint invoke`"},
    {"job update", "jobs cannot be changed once started"},
    {"job archive", "jobs cannot be archived"},
    {"job restore", "jobs cannot be archived"},
    {"job validate", "berth validates a job when `berth batch-endpoint invoke` starts it"},
    {"job connect-ssh", "jobs run as local processes: read their logs with `berth job stream`"},
    {"job show-services", "jobs have no services"},
    {"compute update", "replace it with `berth compute create` (same name)"},
    {"compute start", "computes are limits on local processes; there is nothing to start"},
    {"compute stop", "computes are limits on local processes; there is nothing to stop"},
    {"compute restart", "computes are limits on local processes; there is nothing to restart"},
    {"compute list-nodes", "see the jobs' workers in `berth job show`"},
    {"compute list-sizes", "instance sizes are informational in berth"},
    {"compute list-usage", "see berthd's /metrics"},
    {"compute connect-ssh", "computes are local processes"},
    {"compute attach", "computes are limits on local processes"},
    {"compute detach", "computes are limits on local processes"},
};

// Flags of `az ml` commands that berth does not support, per command.
struct UnsupportedFlag {
  const char* command;  // "online-deployment create"
  const char* flag;
  const char* reason;
};
constexpr UnsupportedFlag kUnsupportedFlags[] = {
    {"online-deployment create", "--with-package",
     "berth serves the model folder directly; leave --with-package out"},
    {"online-deployment update", "--with-package",
     "berth serves the model folder directly; leave --with-package out"},
    {"online-deployment create", "--package-model",
     "berth serves the model folder directly; leave --package-model out"},
};

// Flags of `az ml` commands that berth accepts where they change nothing here.
struct AcceptedFlag {
  const char* command;
  const char* flag;
  const char* description;
};
constexpr char kImmediate[] =
    "Accepted for az scripts: this operation returns at once in berth anyway";
constexpr char kNoScriptValidation[] =
    "Accepted for az scripts: berth does not validate the scoring script on the client";
constexpr AcceptedFlag kAcceptedFlags[] = {
    {"batch-endpoint create", "--no-wait", kImmediate},
    {"batch-endpoint update", "--no-wait", kImmediate},
    {"batch-endpoint delete", "--no-wait", kImmediate},
    {"batch-deployment create", "--no-wait", kImmediate},
    {"batch-deployment update", "--no-wait", kImmediate},
    {"batch-deployment delete", "--no-wait", kImmediate},
    {"compute create", "--no-wait", kImmediate},
    {"compute delete", "--no-wait", kImmediate},
    {"online-deployment create", "--skip-script-validation", kNoScriptValidation},
    {"online-deployment update", "--skip-script-validation", kNoScriptValidation},
    {"batch-deployment create", "--skip-script-validation", kNoScriptValidation},
    {"batch-deployment update", "--skip-script-validation", kNoScriptValidation},
};

// "online-endpoint show" for the command `app`.
std::string CommandPath(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* a = app; a != nullptr && a->get_parent() != nullptr; a = a->get_parent()) {
    names.push_back(a->get_name());
  }
  std::reverse(names.begin(), names.end());
  return absl::StrJoin(names, " ");
}

const CLI::App* FindSubcommand(const CLI::App* app, std::string_view name) {
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == name) return sub;
  }
  return nullptr;
}

std::vector<std::string> SubcommandNames(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

const Unsupported* FindUnsupported(const std::string& command) {
  for (const Unsupported& entry : kUnsupportedCommands) {
    if (command == entry.command) return &entry;
  }
  return nullptr;
}

// The option of `app` or of a command above it (global options fall through) whose long or
// short name is exactly `name` ("--name" or "-n").
const CLI::Option* FindOption(const CLI::App* app, const std::string& name) {
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* option : a->get_options()) {
      if (absl::StartsWith(name, "--")) {
        for (const std::string& lname : option->get_lnames()) {
          if (name.substr(2) == lname) return option;
        }
      } else if (name.size() == 2) {
        for (const std::string& sname : option->get_snames()) {
          if (name.substr(1) == sname) return option;
        }
      }
    }
  }
  return nullptr;
}

// Long options of `app` and the commands above it that start with `prefix` ("--deploy").
std::vector<std::pair<std::string, const CLI::Option*>> LongOptionsWithPrefix(
    const CLI::App* app, const std::string& prefix) {
  std::vector<std::pair<std::string, const CLI::Option*>> found;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* option : a->get_options()) {
      for (const std::string& lname : option->get_lnames()) {
        const std::string flag = "--" + lname;
        if (absl::StartsWith(flag, prefix)) found.emplace_back(flag, option);
      }
    }
  }
  return found;
}

bool TakesValue(const CLI::Option* option) { return option->get_type_size_max() > 0; }
bool TakesValues(const CLI::Option* option) { return option->get_items_expected_max() > 1; }

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "berth" or "berth online-endpoint show".
std::string Invocation(const std::string& path) { return path.empty() ? "berth" : "berth " + path; }

std::string DidYouMean(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> match = ClosestMatch(word, candidates);
  return match ? absl::StrCat(" Did you mean '", *match, "'?") : "";
}

absl::Status UnknownCommand(const CLI::App* group, const std::string& word) {
  const std::string path = CommandPath(group);
  if (const Unsupported* entry = FindUnsupported(path.empty() ? word : path + " " + word)) {
    return UsageError(absl::StrCat("berth does not support '", entry->command, "' (az ml ",
                                   entry->command, "): ", entry->reason));
  }
  const std::string where =
      path.empty() ? absl::StrCat("'", word, "' is not a berth command.")
                   : absl::StrCat("'", word, "' is not in the 'berth ", path, "' group.");
  return UsageError(absl::StrCat(where, DidYouMean(word, SubcommandNames(group)), " See '",
                                 Invocation(path), " --help'."));
}

// A long option given to `command` (already without "=value"): the option it names, or why not.
absl::StatusOr<std::pair<std::string, const CLI::Option*>> ResolveLongOption(
    const CLI::App* command, const std::string& flag) {
  const std::string path = CommandPath(command);
  for (const UnsupportedFlag& entry : kUnsupportedFlags) {
    if (path == entry.command && flag == entry.flag && FindOption(command, flag) == nullptr) {
      return UsageError(
          absl::StrCat("berth does not support ", flag, " on '", path, "': ", entry.reason));
    }
  }
  if (const CLI::Option* exact = FindOption(command, flag)) return std::make_pair(flag, exact);
  const auto candidates = LongOptionsWithPrefix(command, flag);
  if (candidates.empty()) {
    std::vector<std::string> known;
    for (const auto& [name, unused] : LongOptionsWithPrefix(command, "--")) known.push_back(name);
    return UsageError(absl::StrCat("unrecognized argument for '", Invocation(path), "': ", flag,
                                   ".", DidYouMean(flag, known), " See '", Invocation(path),
                                   " --help'."));
  }
  // One option may have several long names with the prefix (--endpoint-name, --endpoint).
  std::vector<const CLI::Option*> distinct;
  for (const auto& [name, candidate] : candidates) {
    if (std::find(distinct.begin(), distinct.end(), candidate) == distinct.end()) {
      distinct.push_back(candidate);
    }
  }
  if (distinct.size() > 1) {
    std::vector<std::string> all;
    for (const auto& [name, unused] : candidates) all.push_back(name);
    return UsageError(
        absl::StrCat("ambiguous option: ", flag, " could match ", absl::StrJoin(all, ", ")));
  }
  return std::make_pair(candidates.front().first, distinct.front());
}

}  // namespace

std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& candidate : candidates) {
    const size_t distance = !word.empty() && candidate.compare(0, word.size(), word) == 0
                                ? 0
                                : EditDistance(word, candidate);
    if (!best || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  // Further than a third of the word's length is a different word, not a typo.
  if (!best || best_distance > std::max<size_t>(2, word.size() / 3)) return std::nullopt;
  return best;
}

void AddAzCommonFlags(CLI::App& root) {
  std::vector<CLI::App*> pending = {&root};
  while (!pending.empty()) {
    CLI::App* app = pending.back();
    pending.pop_back();
    std::vector<CLI::App*> subcommands = app->get_subcommands([](CLI::App*) { return true; });
    if (!subcommands.empty()) {
      pending.insert(pending.end(), subcommands.begin(), subcommands.end());
      continue;
    }
    const std::string path = CommandPath(app);
    for (const AcceptedFlag& accepted : kAcceptedFlags) {
      if (path == accepted.command && app->get_option_no_throw(accepted.flag) == nullptr) {
        const std::string description = accepted.description;
        app->add_flag(accepted.flag, description);
      }
    }
    app->add_option(absl::StrCat("-o,", kOutputOption),
                    "Output format: json (default), jsonc, yaml, yamlc, table, tsv or none")
        ->check(CLI::IsMember(OutputFormatNames(), CLI::ignore_case));
    app->add_option(kQueryOption,
                    "JMESPath query applied to the result before it is printed "
                    "(https://jmespath.org), e.g. --query provisioning_state -o tsv");
  }
  root.add_option("-g,--resource-group",
                  "Accepted for az scripts and ignored (berth has no "
                  "resource groups)");
  root.add_option("-w,--workspace-name",
                  "Accepted for az scripts and ignored (one berthd is one workspace)");
  root.add_option("--subscription", "Accepted for az scripts and ignored");
  // Const, so that CLI11 takes them as descriptions rather than as the flags' variables.
  const std::string web = "Accepted for az scripts: berth opens no browser and says what to run";
  root.add_flag(kWebFlag, web);
  const std::string only_errors = "Print no warnings or notes, only errors";
  root.add_flag(kOnlyShowErrorsFlag, only_errors);
}

AzCommonFlags ReadAzCommonFlags(const CLI::App& root) {
  AzCommonFlags flags;
  const CLI::App* command = &root;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  if (const CLI::Option* output = command->get_option_no_throw(kOutputOption);
      output != nullptr && output->count() > 0) {
    flags.output = output->as<std::string>();
    std::transform(flags.output.begin(), flags.output.end(), flags.output.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    flags.output_given = true;
  }
  if (const CLI::Option* query = command->get_option_no_throw(kQueryOption);
      query != nullptr && query->count() > 0) {
    flags.query = query->as<std::string>();
    flags.output_given = true;
  }
  for (const char* name : kScopeOptions) {
    const CLI::Option* option = root.get_option_no_throw(name);
    if (option != nullptr && option->count() > 0) flags.ignored_scope_flags.push_back(name);
  }
  flags.web = root.get_option_no_throw(kWebFlag)->count() > 0;
  flags.only_show_errors = root.get_option_no_throw(kOnlyShowErrorsFlag)->count() > 0;
  return flags;
}

absl::StatusOr<std::vector<std::string>> NormalizeAzArguments(const std::vector<std::string>& args,
                                                              const CLI::App& root) {
  std::vector<std::string> out;
  out.reserve(args.size());
  if (!args.empty()) out.push_back(args.front());
  const CLI::App* command = &root;
  bool help = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help" || arg == kVersionFlag) help = true;
    if (arg == "--") {
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (absl::StartsWith(arg, "--") && arg.size() > 2) {
      const size_t equals = arg.find('=');
      const std::string flag = arg.substr(0, equals);
      auto resolved = ResolveLongOption(command, flag);
      if (!resolved.ok()) return resolved.status();
      const auto& [name, option] = *resolved;
      // berth's own --version belongs before any command: `berth model package ... --version 1`
      // must not print berth's version and exit 0 as if the command had worked.
      if (name == kVersionFlag && command != &root &&
          command->get_option_no_throw(kVersionFlag) == nullptr) {
        return UsageError(absl::StrCat("unrecognized argument for '",
                                       Invocation(CommandPath(command)), "': ", flag));
      }
      out.push_back(equals == std::string::npos ? name : name + arg.substr(equals));
      if (option == nullptr || equals != std::string::npos || !TakesValue(option)) continue;
      // The option's value(s) follow: they are values, not commands, whatever they look like.
      const bool several = TakesValues(option);
      while (i + 1 < args.size() && (!absl::StartsWith(args[i + 1], "-") || args[i + 1] == "-" ||
                                     (args[i + 1].size() > 1 && std::isdigit(args[i + 1][1])))) {
        out.push_back(args[++i]);
        if (!several) break;
      }
      continue;
    }
    if (absl::StartsWith(arg, "-") && arg.size() == 2) {
      out.push_back(arg);
      const CLI::Option* option = FindOption(command, arg);
      if (option != nullptr && TakesValue(option) && i + 1 < args.size()) {
        out.push_back(args[++i]);
        while (TakesValues(option) && i + 1 < args.size() && !absl::StartsWith(args[i + 1], "-")) {
          out.push_back(args[++i]);
        }
      }
      continue;
    }
    out.push_back(arg);
    if (absl::StartsWith(arg, "-") || SubcommandNames(command).empty()) continue;
    if (const CLI::App* sub = FindSubcommand(command, arg)) {
      command = sub;
      continue;
    }
    // Also before --help: `berth workspace --help` says berth lacks workspaces.
    return UnknownCommand(command, arg);
  }
  if (const std::vector<std::string> verbs = SubcommandNames(command); !verbs.empty() && !help) {
    const std::string path = CommandPath(command);
    return UsageError(absl::StrCat(
        path.empty() ? "a command is required" : "'" + Invocation(path) + "' needs a command", ": ",
        absl::StrJoin(verbs, ", "), ". See '", Invocation(path), " --help'."));
  }
  return out;
}

}  // namespace berth::cli
