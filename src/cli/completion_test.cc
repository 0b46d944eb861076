#include "cli/completion.h"

#include <sstream>

#include "cli/cli.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

// Runs `berth __complete <words...>` and returns its lines.
std::vector<std::string> Complete(std::vector<std::string> words) {
  std::ostringstream out;
  std::ostringstream err;
  std::istringstream in;
  CliEnv env;
  env.out = &out;
  env.err = &err;
  env.in = &in;
  env.env = [](const std::string&) { return std::nullopt; };
  std::vector<std::string> args = {"berth", kCompleteCommand};
  args.insert(args.end(), words.begin(), words.end());
  EXPECT_EQ(Run(args, env), kExitOk) << err.str();
  std::vector<std::string> lines;
  std::istringstream text(out.str());
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  return lines;
}

TEST(CompletionTest, EmptyWordListsTheCommandGroups) {
  std::vector<std::string> words = Complete({""});
  EXPECT_THAT(words, Contains("online-endpoint"));
  EXPECT_THAT(words, Contains("online-deployment"));
  EXPECT_THAT(words, Contains("local-daemon"));
  EXPECT_THAT(words, Not(Contains(kCompleteCommand)));
}

TEST(CompletionTest, PrefixFiltersTheCommands) {
  EXPECT_THAT(Complete({"online-e"}), ElementsAre("online-endpoint"));
  EXPECT_THAT(Complete({"no-such"}), IsEmpty());
}

TEST(CompletionTest, SubcommandListsItsVerbs) {
  std::vector<std::string> words = Complete({"online-endpoint", ""});
  EXPECT_THAT(words, Contains("create"));
  EXPECT_THAT(words, Contains("invoke"));
  EXPECT_THAT(words, Not(Contains("online-endpoint")));
}

TEST(CompletionTest, DashListsTheCommandsOptionsAndTheGlobalOnes) {
  std::vector<std::string> words = Complete({"online-endpoint", "show", "--"});
  EXPECT_THAT(words, Contains("--name"));
  EXPECT_THAT(words, Contains("--local"));
  EXPECT_THAT(words, Contains("--url"));
  EXPECT_THAT(words, Contains("--output"));
}

TEST(CompletionTest, OptionsAndValuesBeforeDoNotChangeTheCommand) {
  std::vector<std::string> words =
      Complete({"--url", "http://x:1", "online-deployment", "-e", "ep", "--"});
  EXPECT_THAT(words, Contains("--help"));
  EXPECT_THAT(Complete({"--url", "http://x:1", "online-deployment", "-e", "ep", "up"}),
              ElementsAre("update"));
}

}  // namespace
}  // namespace berth::cli
