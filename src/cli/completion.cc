#include "cli/completion.h"

#include <CLI/CLI.hpp>
#include <algorithm>

namespace berth::cli {
namespace {

// A named subcommand shown in --help (CLI11 option groups are nameless subcommands).
bool IsVisibleCommand(const CLI::App* app) {
  return !app->get_name().empty() && !app->get_group().empty();
}

const CLI::App* FindCommand(const CLI::App& parent, const std::string& name) {
  for (const CLI::App* sub : parent.get_subcommands([](const CLI::App*) { return true; })) {
    if (IsVisibleCommand(sub) && sub->check_name(name)) return sub;
  }
  return nullptr;
}

void AddUnique(std::vector<std::string>* out, const std::string& word) {
  if (std::find(out->begin(), out->end(), word) == out->end()) out->push_back(word);
}

// The long options of `app` and of its option groups, as `--name`.
void AddLongOptions(const CLI::App& app, std::vector<std::string>* out) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_group().empty()) continue;  // hidden
    for (const std::string& name : option->get_lnames()) AddUnique(out, "--" + name);
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name().empty()) AddLongOptions(*sub, out);
  }
}

}  // namespace

std::vector<std::string> CompletionCandidates(const CLI::App& root,
                                              const std::vector<std::string>& words) {
  const std::string current = words.empty() ? std::string() : words.back();
  const CLI::App* command = &root;
  for (size_t i = 0; i + 1 < words.size(); ++i) {
    if (const CLI::App* sub = FindCommand(*command, words[i])) command = sub;
  }
  std::vector<std::string> all;
  if (!current.empty() && current.front() == '-') {
    AddLongOptions(*command, &all);
    if (command != &root) AddLongOptions(root, &all);
  } else {
    for (const CLI::App* sub : command->get_subcommands([](const CLI::App*) { return true; })) {
      if (IsVisibleCommand(sub)) AddUnique(&all, sub->get_name());
    }
  }
  std::vector<std::string> matching;
  for (const std::string& word : all) {
    if (word.compare(0, current.size(), current) == 0) matching.push_back(word);
  }
  return matching;
}

}  // namespace berth::cli
