#pragma once
// What makes `berth` take a command line written for `az ml`: the flags every command has, the
// `az` commands and flags berth knows but does not run, and argparse's habits (unique prefixes
// of long options, a closest-match hint for a mistyped command).
//
// Everything here works on the CLI11 command tree the command files register; nothing talks to
// berthd. Errors are usage errors (exit code 2).

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::cli {

// Adds -o/--output and --query to every command, and to the root the `az` scope flags that
// berth accepts and ignores (-g/--resource-group, -w/--workspace-name, --subscription), --web
// and --only-show-errors.
void AddAzCommonFlags(CLI::App& root);

// What AddAzCommonFlags' flags were given, read from the command chosen after parsing.
struct AzCommonFlags {
  std::string output = "json";
  bool output_given = false;
  std::optional<std::string> query;
  std::vector<std::string> ignored_scope_flags;  // e.g. "--resource-group", as given
  bool web = false;
  bool only_show_errors = false;
};
AzCommonFlags ReadAzCommonFlags(const CLI::App& root);

// Rewrites `args` (args[0] is the program) before CLI11 parses them:
// - a word where a command or group is expected that is not one: `'X' is not a berth command`
//   or `'X' is not in the 'berth <group>' group`, with the closest name;
// - an `az ml` command or flag berth does not run (`workspace`, `model package`,
//   `--with-package`): "berth does not support ..." with what to do instead;
// - a unique prefix of a long option of the chosen command (or of the root) becomes the option;
//   an ambiguous one names the candidates.
// Returns the arguments to parse; errors are usage errors.
absl::StatusOr<std::vector<std::string>> NormalizeAzArguments(const std::vector<std::string>& args,
                                                              const CLI::App& root);

// The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo
// (or `word` is a prefix of it).
std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace berth::cli
