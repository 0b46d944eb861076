// `--local` commands end to end through cli::Run, with no berthd and no BERTH_URL.

#include "cli/local_mode.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/cli.h"
#include "cli/local_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

class LocalModeTest : public ::testing::Test {
 protected:
  LocalModeTest() {
    std::string pattern = (fs::temp_directory_path() / "berth-local-mode-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    state_ = dir_ / "state";
  }
  ~LocalModeTest() override {
    // Whatever a failed test left running goes with its endpoint.
    for (const char* endpoint : {"ep-one", "ep-two"})
      Cli({"online-endpoint", "delete", "--local", "-n", endpoint, "--yes"});
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  Result Cli(std::vector<std::string> args) {
    args.insert(args.begin(), "berth");
    std::ostringstream out, err;
    std::istringstream in;
    CliEnv env;
    env.out = &out;
    env.err = &err;
    env.in = &in;
    const fs::path state = state_;
    env.env = [state](const std::string& name) -> std::optional<std::string> {
      if (name == "BERTH_LOCAL_DIR") return state.string();
      return std::nullopt;  // in particular no BERTH_URL or BERTH_TOKEN
    };
    env.poll_interval = std::chrono::milliseconds(20);
    int code = cli::Run(args, env);
    return {code, out.str(), err.str()};
  }

  fs::path Write(const std::string& name, const std::string& text) {
    fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path;
  }

  void CreateEndpoint(const std::string& name) {
    Result r = Cli({"online-endpoint", "create", "--local", "-n", name});
    ASSERT_EQ(r.code, 0) << r.err;
  }

  fs::path dir_;
  fs::path state_;
};

TEST_F(LocalModeTest, EndpointCreateShowListDelete) {
  fs::path file = Write("ep.yml", "name: ep-one\nauth_mode: aml_token\n");
  Result created = Cli({"online-endpoint", "create", "--local", "-f", file.string()});
  ASSERT_EQ(created.code, 0) << created.err;
  json view = json::parse(created.out);
  EXPECT_EQ(view["name"], "ep-one");
  EXPECT_EQ(view["auth_mode"], "aml_token");
  EXPECT_EQ(view["provisioning_state"], "Succeeded");
  EXPECT_EQ(view["scoring_uri"], "");
  EXPECT_THAT(created.err, HasSubstr("not enforced"));
  EXPECT_TRUE(fs::exists(state_ / "ep-one" / "endpoint.json"));

  Result again = Cli({"online-endpoint", "create", "--local", "-f", file.string()});
  EXPECT_EQ(again.code, kExitFailure);
  EXPECT_THAT(again.err, HasSubstr("already exists"));

  CreateEndpoint("ep-two");
  Result list = Cli({"online-endpoint", "list", "--local"});
  ASSERT_EQ(list.code, 0) << list.err;
  json items = json::parse(list.out);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["name"], "ep-one");
  EXPECT_EQ(items[1]["name"], "ep-two");
  Result table = Cli({"online-endpoint", "list", "--local", "-o", "table"});
  EXPECT_THAT(table.out, HasSubstr("ep-two"));

  Result show = Cli({"online-endpoint", "show", "--local", "-n", "ep-two"});
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out)["auth_mode"], "key");

  EXPECT_EQ(Cli({"online-endpoint", "delete", "--local", "-n", "ep-two"}).code, kExitUsage);
  EXPECT_EQ(Cli({"online-endpoint", "delete", "--local", "-n", "ep-two", "--yes"}).code, 0);
  EXPECT_FALSE(fs::exists(state_ / "ep-two"));
  Result gone = Cli({"online-endpoint", "show", "--local", "-n", "ep-two"});
  EXPECT_EQ(gone.code, kExitFailure);
  EXPECT_THAT(gone.err, HasSubstr("does not exist"));
}

TEST_F(LocalModeTest, NamesAreValidated) {
  Result r = Cli({"online-endpoint", "show", "--local", "-n", "../etc"});
  EXPECT_NE(r.code, 0);
  EXPECT_FALSE(fs::exists(dir_ / "etc"));
}

TEST_F(LocalModeTest, DeploymentNeedsTheLocalEndpointAndLocalFiles) {
  fs::path dep = Write("dep.yml",
                       "name: blue\nendpoint_name: ep-one\nmodel: azureml:my-model:1\n"
                       "environment:\n  command: [/bin/sh, -c, 'sleep 60']\n");
  Result no_endpoint = Cli({"online-deployment", "create", "--local", "-f", dep.string()});
  EXPECT_EQ(no_endpoint.code, kExitFailure);
  EXPECT_THAT(no_endpoint.err, HasSubstr("online-endpoint create --local"));

  CreateEndpoint("ep-one");
  Result registered = Cli({"online-deployment", "create", "--local", "-f", dep.string()});
  EXPECT_EQ(registered.code, kExitFailure);
  EXPECT_THAT(registered.err, HasSubstr("local files only"));

  Result missing = Cli({"online-deployment", "create", "--local", "-f", dep.string(), "--set",
                        "model={path: ./nowhere}"});
  EXPECT_EQ(missing.code, kExitFailure);
  EXPECT_THAT(missing.err, HasSubstr("model.path"));
  EXPECT_THAT(missing.err, HasSubstr("nowhere"));
  EXPECT_FALSE(fs::exists(state_ / "ep-one" / "deployment.json"));
}

TEST_F(LocalModeTest, AnInstanceThatExitsAtStartFailsTheCreateWithItsLog) {
  CreateEndpoint("ep-one");
  fs::path dep = Write("dep.yml",
                       "name: blue\nendpoint_name: ep-one\nenvironment:\n"
                       "  command: [/bin/sh, -c, 'echo boom on $PORT; exit 4']\n");
  Result r = Cli({"online-deployment", "create", "--local", "-f", dep.string()});
  EXPECT_EQ(r.code, kExitFailure);
  EXPECT_THAT(r.err, HasSubstr("exited with code 4 before it was ready"));
  EXPECT_THAT(r.err, HasSubstr("boom on"));

  Result show = Cli({"online-deployment", "show", "--local", "-e", "ep-one", "-n", "blue"});
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out)["provisioning_state"], "Failed");
  Result logs = Cli({"online-deployment", "get-logs", "--local", "-e", "ep-one", "-n", "blue"});
  EXPECT_THAT(logs.out, HasSubstr("boom on"));

  Result deleted =
      Cli({"online-deployment", "delete", "--local", "-e", "ep-one", "-n", "blue", "--yes"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  Result list = Cli({"online-deployment", "list", "--local", "-e", "ep-one"});
  EXPECT_EQ(json::parse(list.out), json::array());
}

TEST_F(LocalModeTest, ServesOneDeploymentAndStopsItOnDelete) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/python3";
  CreateEndpoint("ep-one");
  Write("site/index.html", "hello from the model folder\n");
  fs::path dep = Write("dep.yml",
                       "name: blue\nendpoint_name: ep-one\nmodel: {path: ./site}\n"
                       "environment:\n  command: [/usr/bin/python3, -m, http.server, '{port}', "
                       "--bind, 127.0.0.1]\n");
  Result created = Cli({"online-deployment", "create", "--local", "-f", dep.string()});
  ASSERT_EQ(created.code, 0) << created.err;
  json view = json::parse(created.out);
  EXPECT_EQ(view["provisioning_state"], "Succeeded");
  ASSERT_EQ(view["instances"].size(), 1u);
  auto record = LocalStore(state_).ReadDeployment("ep-one");
  ASSERT_TRUE(record.ok() && record->has_value());
  ProcessIdentity id = (*record)->process;
  EXPECT_EQ(view["instances"][0]["pid"], id.pid);
  EXPECT_TRUE(IsRunning(id));
  EXPECT_TRUE(
      fs::exists(state_ / "ep-one" / "models" / "ep-one-blue" / "1" / "site" / "index.html"));

  Result endpoint = Cli({"online-endpoint", "show", "--local", "-n", "ep-one"});
  EXPECT_EQ(json::parse(endpoint.out)["scoring_uri"], view["scoring_uri"]);

  Result second =
      Cli({"online-deployment", "create", "--local", "-f", dep.string(), "-n", "green"});
  EXPECT_EQ(second.code, kExitFailure);
  EXPECT_THAT(second.err, HasSubstr("one deployment"));

  // http.server has no POST: the model's status comes back as is.
  fs::path request = Write("request.json", "{\"data\": [1]}");
  Result invoked =
      Cli({"online-endpoint", "invoke", "--local", "-n", "ep-one", "-r", request.string()});
  EXPECT_EQ(invoked.code, kExitFailure);
  EXPECT_THAT(invoked.err, HasSubstr("HTTP 501"));

  Result logs = Cli({"online-deployment", "get-logs", "--local", "-e", "ep-one", "-n", "blue"});
  EXPECT_THAT(logs.out, HasSubstr("starting local deployment blue"));

  ASSERT_EQ(Cli({"online-endpoint", "delete", "--local", "-n", "ep-one", "--yes"}).code, 0);
  EXPECT_FALSE(IsRunning(id));
  EXPECT_TRUE(GroupMembers(id).empty());
  EXPECT_FALSE(fs::exists(state_ / "ep-one"));
}

}  // namespace
}  // namespace berth::cli
