// The `berth` commands end to end against a fake berthd that follows docs/api.md.

#include "cli/cli.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "cli/fake_berthd_for_test.h"
#include "cli/fake_http_server_for_test.h"
#include "cli/local_daemon.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(CliTest, HelpAndUsageErrors) {
  EXPECT_EQ(Berth({"--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("online-endpoint"));
  EXPECT_EQ(Berth({"online-endpoint", "invoke", "--help"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("--deployment-name"));
  EXPECT_EQ(Berth({"online-endpoint", "show", "--bogus"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("Error: "));
  EXPECT_EQ(Berth({}), 2);
  EXPECT_EQ(Berth({"online-endpoint", "list", "-o", "xml"}), 2);
  EXPECT_TRUE(berthd_.requests().empty());
}

TEST_F(CliTest, CreateEndpointFromFileWaitsAndPrints) {
  std::string file = Write("endpoint.yml", "name: from-file\nauth_mode: key\n");
  ASSERT_EQ(Berth({"online-endpoint", "create", "-f", file, "-n", "my-endpoint", "--set",
                   "description=hello"}),
            0)
      << err_.str();
  json posted = json::parse(berthd_.requests("POST").at(0).body);
  EXPECT_EQ(posted["name"], "my-endpoint");
  EXPECT_EQ(posted["description"], "hello");
  EXPECT_EQ(Out()["provisioning_state"], "Succeeded");
  EXPECT_THAT(err_.str(), HasSubstr("Warning: instance_type is accepted but not honoured\n"));
  EXPECT_THAT(err_.str(), HasSubstr("Creating endpoint my-endpoint: Succeeded"));

  EXPECT_EQ(Berth({"online-endpoint", "create", "-n", "my-endpoint"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("already exists; use `berth online-endpoint update`"));
}

TEST_F(CliTest, CreateRefusesInvalidFileLocally) {
  std::string file = Write("endpoint.yml", "name: ep1\nauth_mode: password\n");
  EXPECT_EQ(Berth({"online-endpoint", "create", "-f", file}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: " + file + ": auth_mode"));
  EXPECT_TRUE(berthd_.requests().empty());
}

TEST_F(CliTest, UnreadableFilesAreRefusedBeforeAnythingIsSent) {
  EXPECT_EQ(Berth({"online-endpoint", "create", "-f", "/dev/zero"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("/dev/zero: a character device, not a regular file"));
  EXPECT_EQ(Berth({"online-deployment", "create", "-e", "ep1", "-f", dir_.string()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr(dir_.string() + ": a folder, not a regular file"));
  EXPECT_TRUE(berthd_.requests().empty());

  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0);
  const size_t before = berthd_.requests().size();
  EXPECT_EQ(Berth({"online-endpoint", "invoke", "-n", "ep1", "--request-file", "/dev/zero"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("/dev/zero: a character device"));
  EXPECT_EQ(berthd_.requests().size(), before);
}

TEST_F(CliTest, CreateNeedsAName) {
  EXPECT_EQ(Berth({"online-endpoint", "create"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--name"));
}

TEST_F(CliTest, NoWaitReturnsTheWriteAnswer) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1", "--no-wait"}), 0) << err_.str();
  EXPECT_EQ(Out()["provisioning_state"], "Creating");
  EXPECT_TRUE(berthd_.requests("GET").empty());
}

TEST_F(CliTest, DeploymentCreateUploadsArtifactsAndRoutesAllTraffic) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "my-endpoint"}), 0) << err_.str();
  Write("model-1/model/model.pkl", "weights");
  Write("onlinescoring/score.py", "def init():\n    pass\ndef run(raw):\n    return raw\n");
  std::string file = Write("deploy/blue.yml",
                           "name: blue\n"
                           "endpoint_name: my-endpoint\n"
                           "model:\n  path: ../model-1/model/\n"
                           "code_configuration:\n  code: ../onlinescoring/\n"
                           "  scoring_script: score.py\n"
                           "environment:\n  command: [python3, score.py, \"{port}\"]\n"
                           "instance_type: Standard_DS3_v2\n"
                           "instance_count: 1\n");
  ASSERT_EQ(Berth({"online-deployment", "create", "-f", file, "--all-traffic", "--set",
                   "instance_count=2"}),
            0)
      << err_.str();
  EXPECT_EQ(berthd_.artifacts.size(), 2u);
  EXPECT_THAT(err_.str(), HasSubstr("Uploading model.path model ("));
  RecordedRequest post = berthd_.requests("POST").back();
  EXPECT_EQ(post.target, "/api/v1/online-endpoints/my-endpoint/deployments");
  json doc = json::parse(post.body);
  EXPECT_EQ(doc["instance_count"], 2);
  EXPECT_EQ(doc["model"]["path"], "../model-1/model/");
  EXPECT_EQ(doc["model"]["artifact"]["base_name"], "model");
  EXPECT_TRUE(berthd_.artifacts.count(doc["model"]["artifact"]["digest"]));
  EXPECT_EQ(doc["code_configuration"]["artifact"]["base_name"], "onlinescoring");

  RecordedRequest patch = berthd_.requests("PATCH").back();
  EXPECT_EQ(patch.target, "/api/v1/online-endpoints/my-endpoint");
  EXPECT_EQ(json::parse(patch.body), json({{"traffic", {{"blue", 100}}}}));
  EXPECT_EQ(Out()["name"], "blue");
  EXPECT_EQ(Out()["provisioning_state"], "Succeeded");

  // The same folders again: HEAD says stored, nothing is uploaded.
  size_t puts = berthd_.requests("PUT").size();
  ASSERT_EQ(Berth({"online-deployment", "update", "-f", file, "-n", "blue"}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("PUT").size(), puts);
  EXPECT_THAT(err_.str(), Not(HasSubstr("Uploading")));
}

TEST_F(CliTest, DeploymentCreateReportsMissingFolder) {
  std::string file = Write("deploy/blue.yml",
                           "name: blue\nendpoint_name: ep1\nmodel:\n  path: ../absent\n"
                           "code_configuration:\n  code: ../absent-code\n"
                           "  scoring_script: score.py\n");
  EXPECT_EQ(Berth({"online-deployment", "create", "-f", file}), 1);
  EXPECT_THAT(err_.str(), HasSubstr(file + ": model.path: "));
  EXPECT_TRUE(berthd_.requests().empty());
}

TEST_F(CliTest, FailedDeploymentExitsWithReason) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0) << err_.str();
  berthd_.fail_reason = "readiness probe failed";
  Write("code/score.py", "x = 1\n");
  std::string file = Write("d.yml",
                           "name: blue\nendpoint_name: ep1\n"
                           "code_configuration:\n  code: code\n  scoring_script: score.py\n"
                           "environment:\n  command: [python3, -m, http.server, \"{port}\"]\n");
  EXPECT_EQ(Berth({"online-deployment", "create", "-f", file}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: deployment blue failed: readiness probe failed"));
}

TEST_F(CliTest, UpdateTrafficAndMirror) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0) << err_.str();
  ASSERT_EQ(Berth({"online-endpoint", "update", "-n", "ep1", "--traffic", "blue=90 green=10"}), 0)
      << err_.str();
  EXPECT_EQ(json::parse(berthd_.requests("PATCH").back().body),
            json({{"traffic", {{"blue", 90}, {"green", 10}}}}));
  ASSERT_EQ(Berth({"online-endpoint", "update", "-n", "ep1", "--mirror-traffic", "green=0"}), 0);
  EXPECT_EQ(json::parse(berthd_.requests("PATCH").back().body),
            json({{"mirror_traffic", json::object()}}));
  EXPECT_EQ(Berth({"online-endpoint", "update", "-n", "ep1", "--traffic", "blue=ninety"}), 2);
  EXPECT_EQ(Berth({"online-endpoint", "update", "-n", "ep1"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("nothing to update"));
}

TEST_F(CliTest, DeploymentUpdateWithSetOnly) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0);
  berthd_.resources["/online-endpoints/ep1/deployments/blue"] = {
      {"name", "blue"}, {"endpoint_name", "ep1"}, {"provisioning_state", "Succeeded"}};
  ASSERT_EQ(Berth({"online-deployment", "update", "-n", "blue", "-e", "ep1", "--set",
                   "instance_count=3", "--no-wait"}),
            0)
      << err_.str();
  RecordedRequest patch = berthd_.requests("PATCH").back();
  EXPECT_EQ(patch.target, "/api/v1/online-endpoints/ep1/deployments/blue");
  EXPECT_EQ(json::parse(patch.body), json({{"instance_count", 3}}));
}

TEST_F(CliTest, DeleteNeedsConfirmation) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0);
  size_t before = berthd_.requests().size();
  EXPECT_EQ(Berth({"online-endpoint", "delete", "-n", "ep1"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--yes"));
  EXPECT_EQ(berthd_.requests().size(), before);

  stdin_tty_ = true;
  in_.str("n\n");
  EXPECT_EQ(Berth({"online-endpoint", "delete", "-n", "ep1"}), 1);
  EXPECT_EQ(berthd_.requests().size(), before);

  in_.clear();
  in_.str("y\n");
  ASSERT_EQ(Berth({"online-endpoint", "delete", "-n", "ep1"}), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("Deleting endpoint ep1: deleted"));
  EXPECT_EQ(berthd_.requests("DELETE").size(), 1u);
  EXPECT_EQ(berthd_.resources.count("/online-endpoints/ep1"), 0u);
}

TEST_F(CliTest, InvokeSendsKeyAndDeploymentHeader) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0);
  std::string request = Write("req.json", "{\"data\": [1, 2]}");
  ASSERT_EQ(Berth({"online-endpoint", "invoke", "-n", "ep1", "--request-file", request,
                   "--deployment-name", "green"}),
            0)
      << err_.str();
  EXPECT_EQ(Out()["served_by"], "green");
  EXPECT_EQ(Out()["echo"], json({{"data", {1, 2}}}));
  RecordedRequest score = berthd_.requests().back();
  EXPECT_EQ(score.target, "/endpoints/ep1/score");
  EXPECT_EQ(score.headers["content-type"], "application/json");

  std::string failing = Write("fail.json", "{\"fail\": true}");
  EXPECT_EQ(Berth({"online-endpoint", "invoke", "-n", "ep1", "--request-file", failing}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("{\"message\": \"model crashed\"}"));
  EXPECT_THAT(err_.str(), HasSubstr("HTTP 424"));
  EXPECT_THAT(err_.str(), HasSubstr("the model answered 500: model crashed"));

  std::string bad = Write("bad.json", "{not json");
  EXPECT_EQ(Berth({"online-endpoint", "invoke", "-n", "ep1", "--request-file", bad}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("not valid JSON"));
}

TEST_F(CliTest, CredentialsFollowAuthMode) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0);
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep2", "--set", "auth_mode=aml_token"}), 0)
      << err_.str();
  ASSERT_EQ(Berth({"online-endpoint", "get-credentials", "-n", "ep1"}), 0) << err_.str();
  EXPECT_EQ(Out()["primaryKey"], "pk");
  ASSERT_EQ(Berth({"online-endpoint", "get-credentials", "-n", "ep2"}), 0) << err_.str();
  EXPECT_EQ(Out()["accessToken"], "at");
  ASSERT_EQ(Berth({"online-endpoint", "regenerate-keys", "-n", "ep1", "--key-type", "secondary"}),
            0);
  EXPECT_EQ(Out()["primaryKey"], "new-secondary");
  EXPECT_EQ(Berth({"online-endpoint", "regenerate-keys", "-n", "ep1", "--key-type", "tertiary"}),
            2);
}

TEST_F(CliTest, ListShowAndLogs) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "-n", "ep1"}), 0);
  ASSERT_EQ(Berth({"online-endpoint", "list"}), 0);
  EXPECT_EQ(Out().size(), 1u);
  ASSERT_EQ(Berth({"online-endpoint", "list", "-o", "table"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("Name  AuthMode  State"));
  ASSERT_EQ(Berth({"online-endpoint", "show", "-n", "ep1", "-o", "yaml"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("name: ep1\n"));
  EXPECT_EQ(Berth({"online-endpoint", "show", "-n", "nope"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: not found"));

  ASSERT_EQ(Berth({"online-deployment", "get-logs", "-n", "blue", "-e", "ep1", "-l", "5",
                   "--instance", "2"}),
            0);
  EXPECT_EQ(out_.str(), "query lines=5&instance=2\n");
  ASSERT_EQ(Berth({"online-deployment", "list", "-e", "ep1"}), 0);
  EXPECT_EQ(Out(), json::array());
}

TEST_F(CliTest, ListsFollowEveryPage) {
  berthd_.page_size = 2;
  for (const char* name : {"ep3", "ep1", "ep5", "ep2", "ep4"}) {
    ASSERT_EQ(Berth({"online-endpoint", "create", "-n", name}), 0) << err_.str();
  }
  ASSERT_EQ(Berth({"online-endpoint", "list"}), 0) << err_.str();
  std::vector<std::string> names;
  for (const json& endpoint : Out()) names.push_back(endpoint["name"]);
  EXPECT_THAT(names, ::testing::ElementsAre("ep1", "ep2", "ep3", "ep4", "ep5"));
  int list_gets = 0;
  for (const RecordedRequest& r : berthd_.requests("GET")) {
    if (absl::StartsWith(r.target, "/api/v1/online-endpoints?") ||
        r.target == "/api/v1/online-endpoints") {
      ++list_gets;
    }
  }
  EXPECT_EQ(list_gets, 3);

  for (const char* name : {"green", "blue", "red"}) {
    berthd_.resources[std::string("/online-endpoints/ep1/deployments/") + name] = {
        {"name", name}, {"endpoint_name", "ep1"}, {"provisioning_state", "Succeeded"}};
  }
  ASSERT_EQ(Berth({"online-deployment", "list", "-e", "ep1", "-o", "json"}), 0) << err_.str();
  names.clear();
  for (const json& deployment : Out()) names.push_back(deployment["name"]);
  EXPECT_THAT(names, ::testing::ElementsAre("blue", "green", "red"));
}

TEST_F(CliTest, GlobalOptionsAndMissingToken) {
  vars_.erase("BERTH_TOKEN");
  EXPECT_EQ(Berth({"online-endpoint", "list"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("<data-dir>/admin-token"));
  EXPECT_EQ(Berth({"online-endpoint", "list", "--token", "tok"}), 0) << err_.str();
  EXPECT_EQ(Berth({"--token", "wrong", "online-endpoint", "list"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: missing or wrong admin token"));
  EXPECT_THAT(err_.str(), HasSubstr("Check the admin token"));
}

}  // namespace
}  // namespace berth::cli

namespace berth::cli {
namespace {

// --local: the same commands against the local berthd recorded in BERTH_LOCAL_DIR. The fake
// stands in for it, recorded with this test process's pid and start time (so it "runs").
class CliLocalTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    fs::path local = dir_ / "local";
    fs::create_directories(local);
    DaemonRecord record{berthd_.url(), ::getpid(), *ProcessStartTime(::getpid())};
    std::ofstream(local / "daemon.json") << DaemonRecordJson(record).dump();
    std::ofstream(local / "admin-token") << "tok\n";
    // Nothing from the ordinary configuration may be used.
    vars_ = {{"BERTH_LOCAL_DIR", local.string()},
             {"BERTH_URL", "http://127.0.0.1:9"},
             {"HOME", (dir_ / "home").string()}};
    berthd_.scoring_needs_key = false;
  }
};

TEST_F(CliLocalTest, CommandsTalkToTheLocalDaemonAndScoreWithoutACredential) {
  ASSERT_EQ(Berth({"online-endpoint", "create", "--local", "-n", "ep1"}), 0) << err_.str();
  EXPECT_EQ(Out()["scoring_uri"], berthd_.url() + "/endpoints/ep1/score");

  Write("code/score.py", "x = 1\n");
  std::string blue = Write("blue.yml",
                           "name: blue\nendpoint_name: ep1\n"
                           "code_configuration:\n  code: code\n  scoring_script: score.py\n");
  ASSERT_EQ(Berth({"online-deployment", "create", "--local", "-f", blue}), 0) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("deployment blue gets all of it"));
  std::vector<RecordedRequest> patches = berthd_.requests("PATCH");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].target, "/api/v1/online-endpoints/ep1");
  EXPECT_EQ(json::parse(patches[0].body), json({{"traffic", {{"blue", 100}}}}));

  // A second deployment follows the usual rules: no traffic unless asked.
  std::string green = Write("green.yml",
                            "name: green\nendpoint_name: ep1\n"
                            "code_configuration:\n  code: code\n  scoring_script: score.py\n");
  ASSERT_EQ(Berth({"online-deployment", "create", "--local", "-f", green}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("PATCH").size(), 1u);

  std::string request = Write("req.json", "{\"data\": 1}");
  ASSERT_EQ(Berth({"online-endpoint", "invoke", "--local", "-n", "ep1", "--request-file", request}),
            0)
      << err_.str();
  EXPECT_EQ(Out()["echo"], json({{"data", 1}}));
  RecordedRequest score = berthd_.requests().back();
  EXPECT_EQ(score.target, "/endpoints/ep1/score");
  EXPECT_EQ(score.headers.count("authorization"), 0u);
  for (const RecordedRequest& r : berthd_.requests()) {
    EXPECT_THAT(r.target, Not(HasSubstr("/keys")));
  }

  ASSERT_EQ(Berth({"local-daemon", "status"}), 0) << err_.str();
  EXPECT_EQ(Out()["running"], true);
  EXPECT_EQ(Out()["url"], berthd_.url());
  EXPECT_EQ(Out()["pid"], ::getpid());
}

TEST_F(CliLocalTest, LocalWithUrlOrTokenIsAUsageError) {
  EXPECT_EQ(Berth({"online-endpoint", "list", "--local", "--url", berthd_.url()}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("leave out --url and --token"));
  EXPECT_EQ(Berth({"--token", "x", "online-endpoint", "list", "--local"}), 2);
  EXPECT_TRUE(berthd_.requests().empty());
}

}  // namespace
}  // namespace berth::cli
