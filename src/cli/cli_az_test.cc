// `berth` taking command lines written for `az ml`: --query and every output format, az's
// argument habits, and plain answers for what berth does not run.

#include <set>

#include "cli/fake_berthd_for_test.h"
#include "gmock/gmock.h"

namespace berth::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class CliAzTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1", "--set", "tags.team=ml"}), 0)
        << err_.str();
  }
};

TEST_F(CliAzTest, QueryWithTsvPrintsTheBareValue) {
  ASSERT_EQ(
      Berth({"online-endpoint", "show", "-n", "ep1", "--query", "provisioning_state", "-o", "tsv"}),
      0)
      << err_.str();
  EXPECT_EQ(out_.str(), "Succeeded\n");
  ASSERT_EQ(Berth({"online-endpoint", "get-credentials", "-n", "ep1", "--query", "primaryKey", "-o",
                   "tsv"}),
            0);
  EXPECT_EQ(out_.str(), "pk\n");
  // JSON output of a query is the JSON of its result.
  ASSERT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "--query", "{n: name, t: tags}"}), 0);
  EXPECT_EQ(Out(), json({{"n", "ep1"}, {"t", {{"team", "ml"}}}}));
}

TEST_F(CliAzTest, QueryOverAListWithTable) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep2"}), 0);
  ASSERT_EQ(Berth({"online-endpoint", "list", "--query", "[].{name:name, state:provisioning_state}",
                   "-o", "table"}),
            0)
      << err_.str();
  EXPECT_EQ(out_.str(),
            "Name  State\n"
            "----  ---------\n"
            "ep1   Succeeded\n"
            "ep2   Succeeded\n");
  ASSERT_EQ(Berth({"online-endpoint", "list", "--query", "[].[name, auth_mode]", "-o", "tsv"}), 0);
  EXPECT_EQ(out_.str(), "ep1\tkey\nep2\tkey\n");
  ASSERT_EQ(Berth({"online-endpoint", "list", "--query", "[?name=='ep2'].name", "-o", "tsv"}), 0);
  EXPECT_EQ(out_.str(), "ep2\n");
}

TEST_F(CliAzTest, OutputNonePrintsNothingAndNullQueriesPrintNothing) {
  ASSERT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "-o", "none"}), 0);
  EXPECT_EQ(out_.str(), "");
  ASSERT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "--query", "no_such_field"}), 0);
  EXPECT_EQ(out_.str(), "");
  // Formats are case-insensitive, as az's are.
  ASSERT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "-o", "YAML"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("name: ep1\n"));
}

TEST_F(CliAzTest, BadQueriesAreUsageErrorsAndFailingOnesFail) {
  const size_t before = berthd_.requests().size();
  EXPECT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "--query", "[?name=="}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("Error: --query: "));
  EXPECT_EQ(berthd_.requests().size(), before);  // refused before anything was sent
  EXPECT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "--query", "abs(name)"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("--query abs(name): "));
  EXPECT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "-o", "xml"}), 2);
}

TEST_F(CliAzTest, TextResultsAreRawUnlessAnOutputIsAsked) {
  ASSERT_EQ(Berth({"online-deployment", "get-logs", "-n", "blue", "-e", "ep1", "--container",
                   "storage-initializer"}),
            0)
      << err_.str();
  EXPECT_EQ(out_.str(), "query lines=100&container=storage-initializer\n");
  ASSERT_EQ(Berth({"online-deployment", "get-logs", "-n", "blue", "-e", "ep1", "-o", "json"}), 0);
  EXPECT_EQ(Out(), json("query lines=100"));
  EXPECT_EQ(
      Berth({"online-deployment", "get-logs", "-n", "blue", "-e", "ep1", "--container", "sidecar"}),
      2);

  std::string request = Write("req.json", "{\"data\": [1]}");
  ASSERT_EQ(Berth({"online-endpoint", "invoke", "-n", "ep1", "-r", request, "-o", "tsv"}), 0);
  EXPECT_EQ(json::parse(out_.str())["echo"], json({{"data", {1}}}));
}

TEST_F(CliAzTest, UnknownCommandsNameTheClosestOne) {
  EXPECT_EQ(Berth({"onlin-endpoint", "list"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("'onlin-endpoint' is not a berth command. Did you mean "
                                    "'online-endpoint'? See 'berth --help'."));
  EXPECT_EQ(Berth({"online-endpoint", "shw", "-n", "ep1"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("'shw' is not in the 'berth online-endpoint' group. Did you "
                                    "mean 'show'? See 'berth online-endpoint --help'."));
  EXPECT_EQ(Berth({"frobnicate"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("'frobnicate' is not a berth command."));
  EXPECT_THAT(err_.str(), Not(HasSubstr("Did you mean")));
  // Also with --help after it: the mistake is named, not berth's help printed.
  EXPECT_EQ(Berth({"online-endpoint", "shw", "--help"}), 2);
  // A group alone lists its commands.
  EXPECT_EQ(Berth({"compute"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("'berth compute' needs a command: create, show, list, delete. "
                                    "See 'berth compute --help'."));
  EXPECT_EQ(Berth({"-g", "rg"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("a command is required: online-endpoint, "));
  EXPECT_THAT(err_.str(), HasSubstr("See 'berth --help'."));
  EXPECT_EQ(Berth({"--bogus"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("unrecognized argument for 'berth': --bogus."));
}

TEST_F(CliAzTest, AzCommandsBerthDoesNotRunSaySo) {
  const size_t before = berthd_.requests().size();
  EXPECT_EQ(Berth({"workspace", "show", "-n", "ws"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("berth does not support 'workspace'"));
  EXPECT_EQ(Berth({"model", "package", "-n", "m", "--version", "1"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("berth does not support 'model package'"));
  EXPECT_EQ(out_.str(), "");  // never berth's version, never a silent success
  EXPECT_EQ(Berth({"environment", "create", "--help"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("berth does not support 'environment'"));
  EXPECT_EQ(Berth({"online-deployment", "create", "-f", "x.yml", "--with-package"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("berth does not support --with-package on 'online-deployment "
                                    "create'"));
  EXPECT_EQ(berthd_.requests().size(), before);
}

TEST_F(CliAzTest, BerthsVersionFlagOnlyBeforeACommand) {
  EXPECT_EQ(Berth({"--version"}), 0);
  EXPECT_THAT(out_.str(), StartsWith("berth "));
  EXPECT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "--version", "1"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("unrecognized argument for 'berth online-endpoint show': "
                                    "--version"));
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "--vers", "1"}), 2);
  // A command with a --version of its own keeps it.
  EXPECT_EQ(Berth({"model", "show", "-n", "m", "--version", "1", "-o", "none"}), 1);
  EXPECT_THAT(err_.str(), Not(HasSubstr("unrecognized")));
}

TEST_F(CliAzTest, ScopeFlagsAreAcceptedWithANote) {
  ASSERT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "-g", "rg", "-w", "ws", "--subscription",
                   "sub", "--query", "name", "-o", "tsv"}),
            0)
      << err_.str();
  EXPECT_EQ(out_.str(), "ep1\n");
  EXPECT_THAT(err_.str(), HasSubstr("Note: berth ignores --resource-group, --workspace-name, "
                                    "--subscription"));
  ASSERT_EQ(Berth({"--resource-group", "rg", "online-endpoint", "show", "-n", "ep1",
                   "--only-show-errors", "-o", "none"}),
            0);
  EXPECT_EQ(err_.str(), "");
  ASSERT_EQ(Berth({"job", "list", "--web", "-o", "none"}), 0);
  EXPECT_THAT(err_.str(), HasSubstr("berth opens no browser"));
}

TEST_F(CliAzTest, UniquePrefixesOfLongOptionsAreAccepted) {
  std::string request = Write("req.json", "{\"data\": [1]}");
  ASSERT_EQ(Berth({"online-endpoint", "invoke", "--name", "ep1", "--request", request,
                   "--deployment", "green"}),
            0)
      << err_.str();
  EXPECT_EQ(Out()["served_by"], "green");
  ASSERT_EQ(Berth({"online-endpoint", "update", "--na=ep1", "--traf", "blue=100", "--no-w"}), 0)
      << err_.str();
  EXPECT_EQ(json::parse(berthd_.requests("PATCH").back().body),
            json({{"traffic", {{"blue", 100}}}}));
  EXPECT_EQ(Berth({"online-endpoint", "update", "-n", "ep1", "--t", "blue=100"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("ambiguous option: --t could match"));
  EXPECT_THAT(err_.str(), HasSubstr("--traffic"));
  EXPECT_THAT(err_.str(), HasSubstr("--timeout"));
}

TEST_F(CliAzTest, GenericUpdateArguments) {
  ASSERT_EQ(Berth({"online-endpoint", "update", "-n", "ep1", "--remove", "tags.team", "--no-wait"}),
            0)
      << err_.str();
  EXPECT_EQ(json::parse(berthd_.requests("PATCH").back().body),
            json({{"tags", {{"team", nullptr}}}}));
  EXPECT_EQ(Berth({"online-endpoint", "update", "-n", "ep1", "--remove", "tags.nope"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("--remove tags.nope: no such field"));

  berthd_.resources["/online-endpoints/ep1/deployments/blue"] = {
      {"name", "blue"},
      {"endpoint_name", "ep1"},
      {"provisioning_state", "Succeeded"},
      {"environment", {{"conda", {{"dependencies", {"python=3.11", "numpy"}}}}}}};
  ASSERT_EQ(
      Berth({"online-deployment", "update", "-n", "blue", "-e", "ep1", "--add",
             "environment.conda.dependencies", "pandas", "--remove",
             "environment.conda.dependencies", "0", "--set", "instance_count=2", "--no-wait"}),
      0)
      << err_.str();
  EXPECT_EQ(json::parse(berthd_.requests("PATCH").back().body),
            json({{"instance_count", 2},
                  {"environment", {{"conda", {{"dependencies", {"numpy", "pandas"}}}}}}}));
}

TEST_F(CliAzTest, AcceptedAzFlags) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep3", "--no-wait", "-o", "none"}), 0);
  EXPECT_THAT(Berth({"online-deployment", "create", "--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("--skip-script-validation"));
  EXPECT_EQ(Berth({"batch-endpoint", "create", "--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("--no-wait"));
  EXPECT_EQ(Berth({"model", "create", "--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("--set"));
}

// The subcommand names `berth ... --help` lists.
std::vector<std::string> SubcommandsInHelp(const std::string& help) {
  std::vector<std::string> names;
  bool in_section = false;
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    if (line == "Subcommands:") {
      in_section = true;
      continue;
    }
    if (!in_section) continue;
    if (line.empty() || !absl::StartsWith(line, "  ")) break;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    names.emplace_back(words.front());
  }
  return names;
}

TEST_F(CliAzTest, HelpWorksAtEveryLevel) {
  std::vector<std::vector<std::string>> pending = {{}};
  std::set<std::string> seen;
  while (!pending.empty()) {
    std::vector<std::string> command = pending.back();
    pending.pop_back();
    std::vector<std::string> args = command;
    args.push_back("--help");
    ASSERT_EQ(Berth(args), 0) << absl::StrJoin(command, " ") << ": " << err_.str();
    const std::string help = out_.str();
    EXPECT_THAT(help, HasSubstr("--help")) << absl::StrJoin(command, " ");
    const std::vector<std::string> subcommands = SubcommandsInHelp(help);
    if (subcommands.empty()) {
      // Every command takes az's output options.
      EXPECT_THAT(help, HasSubstr("--output")) << absl::StrJoin(command, " ");
      EXPECT_THAT(help, HasSubstr("--query")) << absl::StrJoin(command, " ");
    }
    for (const std::string& sub : subcommands) {
      std::vector<std::string> deeper = command;
      deeper.push_back(sub);
      seen.insert(absl::StrJoin(deeper, " "));
      pending.push_back(deeper);
    }
  }
  EXPECT_GT(seen.size(), 40u);
  EXPECT_TRUE(seen.count("online-deployment get-logs"));
}

}  // namespace
}  // namespace berth::cli
