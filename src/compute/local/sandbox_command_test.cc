#include "compute/local/sandbox_command.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::compute::local {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::Not;

// The position of `arg` followed by `next` in argv, or -1.
int Find(const std::vector<std::string>& argv, const std::string& arg,
         const std::string& next = "") {
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == arg && (next.empty() || (i + 1 < argv.size() && argv[i + 1] == next))) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

LaunchSpec Spec(SandboxNetwork network = SandboxNetwork::kNone) {
  LaunchSpec spec;
  spec.argv = {"python3", "-m", "berth_runner"};
  spec.working_dir = "/var/azureml-app";
  spec.sandbox = SandboxSpec{{{"/data/i/1/sockets", "/run/berth", true},
                              {"/data/i/1/app", "/var/azureml-app", false},
                              {"/data/m/model", "/var/azureml-app/model", false}},
                             network};
  return spec;
}

SandboxHost Host(bool privileged) {
  SandboxHost host;
  host.system = {{"/usr", ""}, {"/bin", "usr/bin"}, {"/etc", ""}};
  host.privileged = privileged;
  if (privileged) host.user = InstanceUser{999, 998, "berth-instance"};
  return host;
}

TEST(SandboxArgvTest, PrivilegedDropsToTheInstanceUserWithoutAUserNamespace) {
  std::vector<std::string> argv = SandboxArgv(Spec(), Host(true), {.info_fd = 3, .block_fd = -1});
  EXPECT_EQ(argv.front(), "/usr/bin/bwrap");
  EXPECT_EQ(Find(argv, "--unshare-user"), -1);
  EXPECT_GE(Find(argv, "--unshare-net"), 0);
  EXPECT_GE(Find(argv, "--unshare-pid"), 0);
  EXPECT_GE(Find(argv, "--ro-bind", "/usr"), 0);
  EXPECT_GE(Find(argv, "--symlink", "usr/bin"), 0);
  EXPECT_GE(Find(argv, "--info-fd", "3"), 0);
  EXPECT_EQ(Find(argv, "--block-fd"), -1);
  int separator = Find(argv, "--");
  ASSERT_GE(separator, 0);
  std::vector<std::string> inside(argv.begin() + separator + 1, argv.end());
  EXPECT_EQ(inside.front(), "/usr/bin/setpriv");
  EXPECT_THAT(inside, IsSupersetOf({"--reuid=999", "--regid=998", "--clear-groups",
                                    "--bounding-set=-all", "--no-new-privs"}));
  EXPECT_THAT(std::vector<std::string>(inside.end() - 5, inside.end()),
              ElementsAre("/usr/bin/tini", "--", "python3", "-m", "berth_runner"));
}

TEST(SandboxArgvTest, UnprivilegedUsesAUserNamespaceAndNoSetpriv) {
  std::vector<std::string> argv =
      SandboxArgv(Spec(SandboxNetwork::kHost), Host(false), {.info_fd = 3, .block_fd = 4});
  EXPECT_GE(Find(argv, "--unshare-user"), 0);
  EXPECT_EQ(Find(argv, "--unshare-net"), -1);
  EXPECT_GE(Find(argv, "--block-fd", "4"), 0);
  EXPECT_EQ(Find(argv, "/usr/bin/setpriv"), -1);
}

TEST(SandboxArgvTest, BindsGoParentsFirstWithTheirModes) {
  std::vector<std::string> argv = SandboxArgv(Spec(), Host(true), {});
  int app = Find(argv, "--ro-bind", "/data/i/1/app");
  int model = Find(argv, "--ro-bind", "/data/m/model");
  int sockets = Find(argv, "--bind", "/data/i/1/sockets");
  ASSERT_GE(app, 0);
  ASSERT_GE(model, 0);
  ASSERT_GE(sockets, 0);
  EXPECT_LT(app, model);
  EXPECT_GE(Find(argv, "--chdir", "/var/azureml-app"), 0);
}

TEST(HostPathOfTest, MapsThroughTheLongestBind) {
  SandboxSpec sandbox = *Spec().sandbox;
  SandboxHost host = Host(true);
  EXPECT_EQ(HostPathOf("/var/azureml-app/score.py", sandbox, host),
            std::filesystem::path("/data/i/1/app/score.py"));
  EXPECT_EQ(HostPathOf("/var/azureml-app/model/w.pkl", sandbox, host),
            std::filesystem::path("/data/m/model/w.pkl"));
  EXPECT_EQ(HostPathOf("/var/azureml-app", sandbox, host), std::filesystem::path("/data/i/1/app"));
  EXPECT_EQ(HostPathOf("/usr/bin/python3", sandbox, host),
            std::filesystem::path("/usr/bin/python3"));
  EXPECT_EQ(HostPathOf("/var/azureml-appx/a", sandbox, host), std::nullopt);
  EXPECT_EQ(HostPathOf("/root/.config/berth", sandbox, host), std::nullopt);
}

}  // namespace
}  // namespace berth::compute::local
