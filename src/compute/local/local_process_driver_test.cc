#include "compute/local/local_process_driver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "compute/local/orphan_registry.h"
#include "compute/local/process_test_util_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::compute {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

using testing::ReadFile;
using testing::WaitForBusyUsage;
using testing::WaitUntil;

// Gone or a zombie nobody reaped yet: either way it runs no more.
bool ProcessGone(pid_t pid) {
  std::optional<local::ProcStat> stat = local::ReadProcStat(pid);
  return !stat || stat->state == 'Z';
}

class LocalProcessDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-compute-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    registry_ = dir_ / "registry";
    driver_ = std::make_unique<LocalProcessDriver>(LocalProcessDriver::Options{registry_});
  }
  void TearDown() override {
    driver_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  LaunchSpec Shell(const std::string& script, const std::string& name = "out.log") {
    LaunchSpec spec;
    spec.instance_key = "ep/dep/0";
    spec.argv = {"/bin/sh", "-c", script};
    spec.working_dir = dir_;
    spec.log_file = dir_ / "logs" / name;
    return spec;
  }

  // Polls until `id` exits; other exits are kept in others_.
  std::optional<ExitInfo> WaitForExit(InstanceId id) {
    std::optional<ExitInfo> found;
    WaitUntil([&] {
      for (const ExitInfo& exit : driver_->PollExits()) {
        if (exit.id == id) {
          found = exit;
        } else {
          others_.push_back(exit);
        }
      }
      return found.has_value();
    });
    return found;
  }

  bool WaitForLog(const fs::path& log, const std::string& text) {
    return WaitUntil([&] { return ReadFile(log).find(text) != std::string::npos; });
  }

  fs::path dir_;
  fs::path registry_;
  std::unique_ptr<LocalProcessDriver> driver_;
  std::vector<ExitInfo> others_;
};

TEST_F(LocalProcessDriverTest, ReportsExitCodeOnceWithOutputInLog) {
  LaunchSpec spec = Shell("echo hello; echo err 1>&2; exit 3");
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->signal, 0);
  // The log is complete as soon as the exit is reported.
  EXPECT_EQ(ReadFile(spec.log_file), "hello\nerr\n");
  EXPECT_EQ(TailLog(spec.log_file, 1), "err\n");
  EXPECT_TRUE(driver_->PollExits().empty());
  EXPECT_TRUE(others_.empty());
  EXPECT_FALSE(driver_->Pid(*id).has_value());
}

TEST_F(LocalProcessDriverTest, LargeOutputIsCompleteWhenExitIsReported) {
  LaunchSpec spec = Shell("head -c 3000000 /dev/zero | tr '\\0' a; echo; echo done");
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(fs::file_size(spec.log_file), 3000000u + 6u);
  EXPECT_EQ(TailLog(spec.log_file, 1), "done\n");
}

// The instance's environment is the spec's plus PATH, LANG and HOME: nothing of berthd's (which
// may hold BERTH_TOKEN) is passed on.
TEST_F(LocalProcessDriverTest, HonoursEnvironmentAndWorkingDirectory) {
  ASSERT_EQ(::setenv("BERTH_COMPUTE_TEST_INHERITED", "from-berthd", 1), 0);
  ASSERT_EQ(::setenv("BERTH_COMPUTE_TEST_OVERRIDDEN", "old", 1), 0);
  fs::create_directories(dir_ / "work");
  LaunchSpec spec = Shell(
      "echo \"$TEST_VALUE|$BERTH_COMPUTE_TEST_INHERITED|$BERTH_COMPUTE_TEST_OVERRIDDEN\"; pwd; "
      "cat");  // stdin is /dev/null, so cat ends at once
  spec.working_dir = dir_ / "work";
  spec.env = {{"TEST_VALUE", "a b=c"}, {"BERTH_COMPUTE_TEST_OVERRIDDEN", "new"}};
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(ReadFile(spec.log_file), "a b=c||new\n" + fs::canonical(dir_ / "work").string() + "\n");
}

TEST_F(LocalProcessDriverTest, ClosesBerthdDescriptors) {
  // A descriptor berthd forgot to mark close-on-exec must still not reach the instance.
  int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 3);
  LaunchSpec spec = Shell("");
  spec.argv = {"/bin/ls", "/proc/self/fd"};
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ::close(leaked);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForExit(*id).has_value());
  // 0-2, plus the one ls opens to list the folder.
  EXPECT_EQ(ReadFile(spec.log_file), "0\n1\n2\n3\n");
}

TEST_F(LocalProcessDriverTest, LooksUpProgramOnPath) {
  LaunchSpec spec = Shell("");
  spec.argv = {"sh", "-c", "echo via-path"};
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(ReadFile(spec.log_file), "via-path\n");
}

TEST_F(LocalProcessDriverTest, UsesTheInstancePathForLookup) {
  fs::create_directories(dir_ / "bin");
  fs::path tool = dir_ / "bin" / "berth-test-tool";
  std::ofstream(tool) << "#!/bin/sh\necho tool \"$@\"\n";
  fs::permissions(tool, fs::perms::owner_all);
  LaunchSpec spec = Shell("");
  spec.argv = {"berth-test-tool", "x"};
  spec.env = {{"PATH", (dir_ / "bin").string() + ":/usr/bin:/bin"}};
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForExit(*id).has_value());
  EXPECT_EQ(ReadFile(spec.log_file), "tool x\n");

  // A relative path is taken from the working directory.
  spec.argv = {"bin/berth-test-tool", "y"};
  spec.env.clear();
  id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForExit(*id).has_value());
  EXPECT_EQ(ReadFile(spec.log_file), "tool x\ntool y\n");
}

TEST_F(LocalProcessDriverTest, ProgramThatCannotRunIsFailedPrecondition) {
  fs::path plain = dir_ / "not-executable";
  std::ofstream(plain) << "echo hi\n";
  fs::permissions(plain, fs::perms::owner_read | fs::perms::owner_write);
  LaunchSpec spec = Shell("");
  spec.argv = {plain.string()};
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(id.status().message(), HasSubstr(plain.string()));

  spec.argv = {"berth-no-such-program"};
  id = driver_->Start(spec);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(id.status().message(), HasSubstr("'berth-no-such-program'"));

  spec.argv = {dir_.string()};
  id = driver_->Start(spec);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);

  spec.argv = {"/bin/true"};
  spec.working_dir = dir_ / "missing";
  id = driver_->Start(spec);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);

  spec = Shell("");
  spec.argv.clear();
  EXPECT_EQ(driver_->Start(spec).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(LocalProcessDriverTest, ExecFailureInTheChildIsReportedAndLogged) {
  // Executable bit but no interpreter line: execve refuses it (ENOEXEC).
  fs::path junk = dir_ / "junk";
  std::ofstream(junk) << "\x7f"
                      << "ELF-not-really";
  fs::permissions(junk, fs::perms::owner_all);
  LaunchSpec spec = Shell("");
  spec.argv = {junk.string()};
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(id.status().message(), HasSubstr("cannot execute '" + junk.string() + "'"));
  EXPECT_THAT(ReadFile(spec.log_file), HasSubstr("berth: cannot execute '" + junk.string() + "'"));
}

TEST_F(LocalProcessDriverTest, StopSendsTermFirst) {
  LaunchSpec spec =
      Shell("trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForLog(spec.log_file, "ready\n"));
  driver_->Stop(*id, std::chrono::seconds(30));
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(exit->signal, 0);
  EXPECT_THAT(ReadFile(spec.log_file), HasSubstr("term\n"));
}

TEST_F(LocalProcessDriverTest, StopKillsAfterGrace) {
  LaunchSpec spec = Shell("trap '' TERM; echo ready; while :; do sleep 0.05; done");
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForLog(spec.log_file, "ready\n"));
  auto stopped_at = steady_clock::now();
  driver_->Stop(*id, milliseconds(300));
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGKILL);
  EXPECT_EQ(exit->exit_code, -1);
  EXPECT_GE(steady_clock::now() - stopped_at, milliseconds(300));
  driver_->Stop(*id, milliseconds(0));  // already gone: ignored
  driver_->Stop(12345, milliseconds(0));
  EXPECT_TRUE(driver_->PollExits().empty());
}

TEST_F(LocalProcessDriverTest, StopEndsGrandchildren) {
  LaunchSpec spec = Shell("sleep 100 & echo $!; wait");
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForLog(spec.log_file, "\n"));
  pid_t grandchild = std::stoi(ReadFile(spec.log_file));
  EXPECT_FALSE(ProcessGone(grandchild));
  driver_->Stop(*id, std::chrono::seconds(5));
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(grandchild); }));
}

TEST_F(LocalProcessDriverTest, LeaderExitKillsTheRestOfItsGroup) {
  // The child ignores TERM, so only the SIGKILL after the leader's exit can end it.
  LaunchSpec spec = Shell("(trap '' TERM; sleep 100) & echo $!; exit 0");
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  pid_t straggler = std::stoi(ReadFile(spec.log_file));
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(straggler); }));
}

TEST_F(LocalProcessDriverTest, UsageSumsTheInstancesProcesses) {
  // The leader only waits: the CPU time is its busy child's, in the instance's session.
  absl::StatusOr<InstanceId> id = driver_->Start(Shell("while :; do :; done & wait"));
  ASSERT_TRUE(id.ok()) << id.status();
  ResourceUsage last;
  EXPECT_TRUE(WaitForBusyUsage(*driver_, *id, last))
      << last.cpu_seconds << " s, " << last.rss_bytes << " bytes";
  // A counter: it does not go back.
  absl::StatusOr<ResourceUsage> later = driver_->Usage(*id);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_GE(later->cpu_seconds, last.cpu_seconds);

  driver_->Stop(*id, milliseconds(0));
  ASSERT_TRUE(WaitForExit(*id).has_value());
  EXPECT_TRUE(absl::IsNotFound(driver_->Usage(*id).status()));
  EXPECT_TRUE(absl::IsNotFound(driver_->Usage(12345).status()));
}

TEST_F(LocalProcessDriverTest, UsageOfAnInstanceWithLimits) {
  // With a memory limit the instance gets a cgroup where berthd may create one; the figures
  // then come from it, else from /proc. Either way they are the instance's.
  LaunchSpec spec = Shell("while :; do :; done & wait");
  spec.limits.memory_bytes = 512ull << 20;
  spec.limits.cpu_millis = 1000;
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ResourceUsage last;
  EXPECT_TRUE(WaitForBusyUsage(*driver_, *id, last))
      << last.cpu_seconds << " s, " << last.rss_bytes << " bytes";
  EXPECT_LT(last.rss_bytes, spec.limits.memory_bytes);
}

TEST_F(LocalProcessDriverTest, StartFromShortLivedThreadSurvivesTheThread) {
  // The parent-death signal follows the forking thread; instances must not die with the
  // caller's thread.
  LaunchSpec spec =
      Shell("trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
  absl::StatusOr<InstanceId> id = absl::UnknownError("not run");
  std::thread([&] { id = driver_->Start(spec); }).join();
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForLog(spec.log_file, "ready\n"));
  driver_->Stop(*id, std::chrono::seconds(30));
  std::optional<ExitInfo> exit = WaitForExit(*id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
}

TEST_F(LocalProcessDriverTest, ConcurrentStartsAllExit) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 5;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<InstanceId> ids;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        LaunchSpec spec = Shell("echo " + std::to_string(t * 100 + i),
                                "c" + std::to_string(t) + "-" + std::to_string(i) + ".log");
        absl::StatusOr<InstanceId> id = driver_->Start(spec);
        if (!id.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        ids.insert(*id);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<InstanceId> exited;
  EXPECT_TRUE(WaitUntil([&] {
    for (const ExitInfo& exit : driver_->PollExits()) {
      EXPECT_TRUE(exited.insert(exit.id).second) << "reported twice: " << exit.id;
      EXPECT_EQ(exit.exit_code, 0);
    }
    return exited == ids;
  }));
  EXPECT_EQ(ReadFile(dir_ / "logs" / "c3-4.log"), "304\n");
}

TEST_F(LocalProcessDriverTest, KillAllEndsEverythingAndReportsIt) {
  absl::StatusOr<InstanceId> a = driver_->Start(Shell("sleep 100", "a.log"));
  absl::StatusOr<InstanceId> b = driver_->Start(Shell("trap '' TERM; sleep 100", "b.log"));
  ASSERT_TRUE(a.ok() && b.ok());
  pid_t pid_a = *driver_->Pid(*a);
  driver_->KillAll();
  std::vector<ExitInfo> exits = driver_->PollExits();
  ASSERT_EQ(exits.size(), 2u);
  for (const ExitInfo& exit : exits) EXPECT_EQ(exit.signal, SIGKILL);
  EXPECT_TRUE(ProcessGone(pid_a));
}

TEST_F(LocalProcessDriverTest, DestructorKillsInstances) {
  absl::StatusOr<InstanceId> id = driver_->Start(Shell("sleep 100 & wait"));
  ASSERT_TRUE(id.ok());
  pid_t pid = *driver_->Pid(*id);
  driver_.reset();
  EXPECT_TRUE(ProcessGone(pid));
  EXPECT_TRUE(fs::is_empty(registry_));
}

TEST_F(LocalProcessDriverTest, RotatesLogs) {
  LaunchSpec spec = Shell("i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); done");
  spec.max_log_bytes = 64;
  absl::StatusOr<InstanceId> id = driver_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(WaitForExit(*id).has_value());
  fs::path rotated = spec.log_file;
  rotated += ".1";
  std::string current = ReadFile(spec.log_file);
  std::string previous = ReadFile(rotated);
  EXPECT_LE(current.size(), 64u);
  EXPECT_LE(previous.size(), 64u);
  EXPECT_FALSE(previous.empty());
  // Lines stay whole, and the two files are the end of the output in order.
  EXPECT_EQ(previous.back(), '\n');
  EXPECT_EQ(current.back(), '\n');
  std::string expected;
  for (int i = 0; i < 40; ++i) expected += "line-" + std::to_string(i) + "\n";
  std::string both = previous + current;
  EXPECT_TRUE(expected.ends_with(both)) << both;
  EXPECT_EQ(TailLog(spec.log_file, 2), "line-38\nline-39\n");
  // More lines than the current file holds come from the rotated one.
  int current_lines = static_cast<int>(std::count(current.begin(), current.end(), '\n'));
  std::string tail = TailLog(spec.log_file, current_lines + 2);
  EXPECT_TRUE(expected.ends_with(tail));
  EXPECT_EQ(std::count(tail.begin(), tail.end(), '\n'), current_lines + 2);
}

TEST_F(LocalProcessDriverTest, RecordsRunningInstancesAndKeepsThemOnSweep) {
  absl::StatusOr<InstanceId> id = driver_->Start(Shell("sleep 100"));
  ASSERT_TRUE(id.ok());
  pid_t pid = *driver_->Pid(*id);
  fs::path record = registry_ / (std::to_string(pid) + ".pid");
  std::string text = ReadFile(record);
  EXPECT_THAT(text, ::testing::StartsWith(std::to_string(pid) + " " +
                                          std::to_string(local::ReadProcStat(pid)->start_time)));
  EXPECT_THAT(text, HasSubstr(" ep/dep/0"));

  absl::StatusOr<int> swept = driver_->SweepOrphans();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 0);
  EXPECT_FALSE(ProcessGone(pid));
  EXPECT_TRUE(fs::exists(record));

  driver_->Stop(*id, milliseconds(0));
  ASSERT_TRUE(WaitForExit(*id).has_value());
  EXPECT_FALSE(fs::exists(record));
}

// A plain process in its own session, started by the test as a stand-in for a leftover.
pid_t SpawnSleeper() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    ::execl("/bin/sleep", "sleep", "100", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

TEST_F(LocalProcessDriverTest, SweepKillsRecordedLeftoversOnly) {
  pid_t leftover = SpawnSleeper();
  pid_t unrelated = SpawnSleeper();
  ASSERT_GT(leftover, 0);
  ASSERT_GT(unrelated, 0);
  local::OrphanRegistry registry(registry_);
  ASSERT_TRUE(registry.Record(leftover, "ep/dep/1").ok());
  // A record whose pid now belongs to a process with another start time.
  std::optional<local::ProcStat> stat = local::ReadProcStat(unrelated);
  ASSERT_TRUE(stat.has_value());
  std::ofstream(registry_ / (std::to_string(unrelated) + ".pid"))
      << unrelated << " " << stat->start_time + 7 << " ep/dep/2\n";

  absl::StatusOr<int> swept = driver_->SweepOrphans();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1);
  int status = 0;
  ASSERT_EQ(::waitpid(leftover, &status, 0), leftover);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(ProcessGone(unrelated));
  EXPECT_TRUE(fs::is_empty(registry_));

  ::kill(unrelated, SIGKILL);
  ::waitpid(unrelated, &status, 0);
}

TEST_F(LocalProcessDriverTest, SweepKillsWhatACrashedDriverLeftBehind) {
  LaunchSpec spec = Shell("sleep 100 & echo $!; wait");
  pid_t leader = -1;
  {
    LocalProcessDriver crashed(LocalProcessDriver::Options{registry_});
    absl::StatusOr<InstanceId> id = crashed.Start(spec);
    ASSERT_TRUE(id.ok()) << id.status();
    ASSERT_TRUE(WaitForLog(spec.log_file, "\n"));
    leader = *crashed.ReleaseForTest(*id);
  }
  // The driver's thread is gone, so the parent-death signal ended the leader...
  int status = 0;
  ASSERT_EQ(::waitpid(leader, &status, 0), leader);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // ...but not its child, which the next driver finds through the record.
  pid_t grandchild = std::stoi(ReadFile(spec.log_file));
  EXPECT_FALSE(ProcessGone(grandchild));
  absl::StatusOr<int> swept = driver_->SweepOrphans();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1);
  EXPECT_TRUE(WaitUntil([&] { return ProcessGone(grandchild); }));
  EXPECT_TRUE(fs::is_empty(registry_));
}

TEST(PickFreePortTest, ReturnsABindablePort) {
  absl::StatusOr<int> port = PickFreePort();
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_GT(*port, 0);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(*port));
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ::close(fd);
}

}  // namespace
}  // namespace berth::compute
