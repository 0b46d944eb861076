// LocalProcessDriver with real sandboxes (bubblewrap, tini, slirp4netns from Debian): what an
// instance can see, reach and leave behind. These tests fail, rather than skip, on a host that
// cannot create the namespaces, since berthd would refuse to start instances there.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "compute/local/local_process_driver.h"
#include "compute/local/process_test_util_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::compute {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::ReadFile;
using testing::WaitForBusyUsage;
using testing::WaitUntil;

// Whether a live process's command line contains `marker`.
bool ProcessWithArgumentExists(const std::string& marker) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return false;
  bool found = false;
  while (dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::string cmdline = ReadFile(fs::path("/proc") / entry->d_name / "cmdline");
    std::string stat = ReadFile(fs::path("/proc") / entry->d_name / "stat");
    size_t close = stat.rfind(')');
    bool zombie = close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
    if (!zombie && cmdline.find(marker) != std::string::npos) found = true;
  }
  ::closedir(proc);
  return found;
}

// A TCP listener on the host's 127.0.0.1 that accepts in the background.
class HostListener {
 public:
  HostListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~HostListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class SandboxDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-sandbox-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    fs::create_directories(dir_ / "app");
    fs::create_directories(dir_ / "tmp");
    fs::create_directories(dir_ / "secret");
    std::ofstream(dir_ / "app" / "code.txt") << "the code\n";
    std::ofstream(dir_ / "secret" / "admin-token") << "s3cret\n";
    fs::permissions(dir_ / "tmp", fs::perms::all);  // the instance user writes there
    for (const char* tool : {"/usr/bin/bwrap", "/usr/bin/tini", "/usr/bin/slirp4netns"}) {
      ASSERT_TRUE(fs::exists(tool)) << tool << " is missing: scripts/install-deps installs it";
    }
    local::SandboxHost host;
    host.system = local::SystemEntries();
    host.privileged = ::geteuid() == 0;
    if (host.privileged) host.user = local::InstanceUser{65534, 65534, "nobody"};
    driver_ = std::make_unique<LocalProcessDriver>(
        LocalProcessDriver::Options{.registry_dir = dir_ / "registry", .sandbox = host});
  }
  void TearDown() override {
    driver_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  LaunchSpec Sandboxed(const std::string& script, SandboxNetwork network = SandboxNetwork::kNone) {
    LaunchSpec spec;
    spec.instance_key = "ep/dep/1";
    spec.argv = {"/bin/sh", "-c", script};
    spec.working_dir = "/var/app";
    spec.log_file = dir_ / "instance.log";
    spec.sandbox =
        SandboxSpec{{{dir_ / "app", "/var/app", false}, {dir_ / "tmp", "/tmp", true}}, network};
    return spec;
  }

  std::optional<ExitInfo> WaitForExit(InstanceId id) {
    std::optional<ExitInfo> found;
    WaitUntil([&] {
      for (const ExitInfo& exit : driver_->PollExits()) {
        if (exit.id == id) found = exit;
      }
      return found.has_value();
    });
    return found;
  }

  // Runs `script` to its end; returns its output.
  std::string Run(const LaunchSpec& spec) {
    absl::StatusOr<InstanceId> id = driver_->Start(spec);
    EXPECT_TRUE(id.ok()) << id.status() << "\n" << ReadFile(spec.log_file);
    if (!id.ok()) return "";
    std::optional<ExitInfo> exit = WaitForExit(*id);
    EXPECT_TRUE(exit.has_value());
    return ReadFile(spec.log_file);
  }

  fs::path dir_;
  std::unique_ptr<LocalProcessDriver> driver_;
};

TEST_F(SandboxDriverTest, SeesItsBindsAndTheSystemOnly) {
  ASSERT_EQ(::setenv("BERTH_TOKEN", "daemon-token", 1), 0);
  std::string secret = (dir_ / "secret" / "admin-token").string();
  std::string out = Run(Sandboxed("cat code.txt; cat " + secret +
                                  " || echo secret-hidden; ls /root /home 2>&1 | head -3; "
                                  "echo token=$BERTH_TOKEN; id -u; touch /var/app/x || "
                                  "echo code-read-only; touch /tmp/x && echo tmp-writable; "
                                  "test -x /usr/bin/python3 && echo system-visible"));
  ::unsetenv("BERTH_TOKEN");
  EXPECT_THAT(out, HasSubstr("the code"));
  EXPECT_THAT(out, HasSubstr("secret-hidden"));
  EXPECT_THAT(out, Not(HasSubstr("s3cret")));
  EXPECT_THAT(out, HasSubstr("token=\n"));
  EXPECT_THAT(out, HasSubstr("code-read-only"));
  EXPECT_THAT(out, HasSubstr("tmp-writable"));
  EXPECT_THAT(out, HasSubstr("system-visible"));
  if (::geteuid() == 0) EXPECT_THAT(out, HasSubstr("65534\n"));
}

TEST_F(SandboxDriverTest, EverythingItStartedDiesWithIt) {
  // A grandchild in its own session escapes the process group; the PID namespace still ends it.
  const std::string marker = "987.125";
  std::string out = Run(Sandboxed("setsid sleep " + marker + " & sleep 0.2; echo started"));
  EXPECT_THAT(out, HasSubstr("started"));
  EXPECT_TRUE(WaitUntil([&] { return !ProcessWithArgumentExists(marker); }))
      << "the setsid grandchild outlived its instance";
}

TEST_F(SandboxDriverTest, UsageCountsProcessesThatLeftTheSession) {
  // The busy process calls setsid inside the sandbox: only its PID namespace ties it to the
  // instance.
  absl::StatusOr<InstanceId> id =
      driver_->Start(Sandboxed("setsid sh -c 'while :; do :; done' & sleep 1000"));
  ASSERT_TRUE(id.ok()) << id.status();
  ResourceUsage last;
  EXPECT_TRUE(WaitForBusyUsage(*driver_, *id, last))
      << last.cpu_seconds << " s, " << last.rss_bytes << " bytes\n"
      << ReadFile(dir_ / "instance.log");
  driver_->Stop(*id, std::chrono::milliseconds(0));
  EXPECT_TRUE(WaitForExit(*id).has_value());
}

TEST_F(SandboxDriverTest, StopLetsTheProgramFinish) {
  auto id = driver_->Start(
      Sandboxed("trap 'echo finishing; exit 0' TERM; echo ready; while true; do sleep 0.05; done"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitUntil(
      [&] { return ReadFile(dir_ / "instance.log").find("ready") != std::string::npos; }));
  driver_->Stop(*id, std::chrono::seconds(10));
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_THAT(ReadFile(dir_ / "instance.log"), HasSubstr("finishing"));
}

TEST_F(SandboxDriverTest, MemoryLimitEndsTheInstanceAndIsNamed) {
  LaunchSpec spec = Sandboxed("exec /usr/bin/python3 -c 'x = bytearray(400 << 20); print(len(x))'");
  spec.limits.memory_bytes = 64ull << 20;
  auto id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_NE(exit->exit_code, 0);
  EXPECT_EQ(exit->limit, ::geteuid() == 0 ? "memory limit (cgroup)" : exit->limit);
  EXPECT_THAT(exit->limit, HasSubstr("memory limit"));
  EXPECT_THAT(ReadFile(spec.log_file), Not(HasSubstr("419430400")));
}

TEST_F(SandboxDriverTest, WithoutNetworkOnlyLoopbackExists) {
  HostListener host;
  std::string out = Run(Sandboxed(
      "cut -d: -f1 /proc/net/dev | tail -n +3; echo routes=$(tail -n +2 /proc/net/route | wc -l); "
      "/usr/bin/python3 -c 'import socket,sys\n"
      "for h in (\"127.0.0.1\", \"10.0.2.2\"):\n"
      "  try:\n"
      "    socket.create_connection((h, " +
      std::to_string(host.port()) +
      "), timeout=2); print(\"connected\", h)\n"
      "  except OSError as e: print(\"refused\", h)'"));
  EXPECT_THAT(out, HasSubstr("lo\n"));
  EXPECT_THAT(out, Not(HasSubstr("tap0")));
  EXPECT_THAT(out, HasSubstr("routes=0"));
  EXPECT_THAT(out, HasSubstr("refused 127.0.0.1"));
  EXPECT_THAT(out, HasSubstr("refused 10.0.2.2"));
  EXPECT_THAT(out, Not(HasSubstr("connected")));
}

TEST_F(SandboxDriverTest, UserModeNetworkReachesTheHostOutward) {
  if (::geteuid() != 0) {
    auto refused = driver_->Start(Sandboxed("true", SandboxNetwork::kUserMode));
    EXPECT_THAT(refused.status().message(), HasSubstr("needs berthd to run as root"));
    return;
  }
  HostListener host;
  std::string out =
      Run(Sandboxed("echo routes=$(tail -n +2 /proc/net/route | wc -l); "
                    "/usr/bin/python3 -c 'import socket\n"
                    "socket.create_connection((\"10.0.2.2\", " +
                        std::to_string(host.port()) + "), timeout=5); print(\"connected\")'",
                    SandboxNetwork::kUserMode));
  EXPECT_THAT(out, Not(HasSubstr("routes=0")));
  EXPECT_THAT(out, HasSubstr("connected"));
}

}  // namespace
}  // namespace berth::compute
