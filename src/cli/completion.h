#pragma once
// Shell completion from the command tree itself: `berth __complete <words...>` prints the words
// that may follow the command line typed so far, one a line, so the bash completion script
// (packaging/berth.bash-completion) never keeps a list of its own that could drift.
//
// The last word is the one being completed (may be empty). The words before it choose the
// subcommand: each one that names a subcommand of the current command descends into it; the
// others (options, their values, positionals) are skipped. Candidates are the chosen command's
// subcommands, or its long options (and the root's, which may follow any subcommand) when the
// word being completed starts with '-'. Hidden subcommands and options are never offered.

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace berth::cli {

// The hidden subcommand's name, as the first argument after the program name.
inline constexpr char kCompleteCommand[] = "__complete";

// The candidates for the last of `words` (the arguments after `__complete`), starting with its
// text, in the command tree's order without duplicates.
std::vector<std::string> CompletionCandidates(const CLI::App& root,
                                              const std::vector<std::string>& words);

}  // namespace berth::cli
