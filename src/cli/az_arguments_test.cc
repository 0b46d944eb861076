#include "cli/az_arguments.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using ::testing::HasSubstr;

TEST(ClosestMatchTest, PicksTheNearestLikelyTypo) {
  const std::vector<std::string> groups = {"online-endpoint", "online-deployment", "model", "job"};
  EXPECT_EQ(ClosestMatch("onlin-endpoint", groups), "online-endpoint");
  EXPECT_EQ(ClosestMatch("online-deploy", groups), "online-deployment");  // a prefix
  EXPECT_EQ(ClosestMatch("modle", groups), "model");
  EXPECT_EQ(ClosestMatch("jbo", groups), "job");
  EXPECT_EQ(ClosestMatch("frobnicate", groups), std::nullopt);
  EXPECT_EQ(ClosestMatch("x", {}), std::nullopt);
}

class NormalizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.fallthrough();  // as berth's root: global options may follow the subcommands
    CLI::App* group = root_.add_subcommand("online-endpoint");
    CLI::App* update = group->add_subcommand("update");
    update->add_option("-n,--name", name_);
    update->add_option("--traffic", traffic_);
    update->add_option("--timeout", timeout_);
    update->add_option("--set", set_);
    update->add_flag("--no-wait", no_wait_);
    root_.add_option("--url", url_);
    AddAzCommonFlags(root_);
  }
  absl::StatusOr<std::vector<std::string>> Normalize(std::vector<std::string> args) {
    args.insert(args.begin(), "berth");
    return NormalizeAzArguments(args, root_);
  }
  CLI::App root_;
  std::string name_, traffic_, url_;
  int timeout_ = 0;
  std::vector<std::string> set_;
  bool no_wait_ = false;
};

TEST_F(NormalizeTest, PrefixesBecomeTheirOption) {
  auto args = Normalize({"online-endpoint", "update", "--na", "x", "--traf=a=1", "--no-w", "--que",
                         "name", "--ur", "u"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(*args, (std::vector<std::string>{"berth", "online-endpoint", "update", "--name", "x",
                                             "--traffic=a=1", "--no-wait", "--query", "name",
                                             "--url", "u"}));
}

TEST_F(NormalizeTest, ValuesAreNeverTakenForCommands) {
  // `--set` takes several values; none of them is a command, whatever it looks like.
  auto args = Normalize({"online-endpoint", "update", "--set", "a=1", "show", "-n", "show"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->size(), 8u);
}

TEST_F(NormalizeTest, AmbiguousPrefixNamesTheCandidates) {
  auto args = Normalize({"online-endpoint", "update", "--t", "1"});
  ASSERT_FALSE(args.ok());
  EXPECT_THAT(args.status().message(), HasSubstr("--traffic"));
  EXPECT_THAT(args.status().message(), HasSubstr("--timeout"));
}

TEST_F(NormalizeTest, UnknownOptionsNameTheClosestOne) {
  auto args = Normalize({"online-endpoint", "update", "--trafic", "a=1"});
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.status().message(),
            "unrecognized argument for 'berth online-endpoint update': --trafic. Did you mean "
            "'--traffic'? See 'berth online-endpoint update --help'.");
}

TEST_F(NormalizeTest, CommonFlagsReadFromTheChosenCommand) {
  auto args = Normalize(
      {"online-endpoint", "update", "-n", "x", "-o", "TSV", "--query", "name", "-g", "rg"});
  ASSERT_TRUE(args.ok());
  std::vector<const char*> argv;
  for (const std::string& arg : *args) argv.push_back(arg.c_str());
  root_.parse(static_cast<int>(argv.size()), argv.data());
  AzCommonFlags flags = ReadAzCommonFlags(root_);
  EXPECT_EQ(flags.output, "tsv");
  EXPECT_TRUE(flags.output_given);
  EXPECT_EQ(flags.query, "name");
  EXPECT_EQ(flags.ignored_scope_flags, std::vector<std::string>{"--resource-group"});
}

}  // namespace
}  // namespace berth::cli
