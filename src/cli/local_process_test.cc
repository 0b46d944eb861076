#include "cli/local_process.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "berth-local-proc-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

StopEnv RealStopEnv() {
  StopEnv env;
  env.sleep = [](milliseconds d) { std::this_thread::sleep_for(d); };
  env.interval = milliseconds(10);
  return env;
}

// Polls `predicate` for up to 10 s.
template <typename F>
bool Eventually(F predicate) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return predicate();
}

class LocalProcessTest : public ::testing::Test {
 protected:
  absl::StatusOr<ProcessIdentity> Start(std::vector<std::string> argv) {
    compute::LaunchSpec spec;
    spec.instance_key = "test";
    spec.argv = std::move(argv);
    spec.env = {{"BERTH_TEST_VAR", "value"}};
    spec.working_dir = tmp_.path();
    auto plan = compute::local::PrepareSpawn(spec);
    if (!plan.ok()) return plan.status();
    auto id = StartDetached(*plan, log());
    if (id.ok()) started_.push_back(*id);
    return id;
  }

  void TearDown() override {
    for (const ProcessIdentity& id : started_) {
      EXPECT_TRUE(StopProcessGroup(id, milliseconds(100), RealStopEnv()).ok());
    }
  }

  fs::path log() const { return tmp_.path() / "out.log"; }

  TempDir tmp_;
  std::vector<ProcessIdentity> started_;
};

TEST(ParseProcStatTest, ReadsThisProcess) {
  auto stat = ReadProcStat(::getpid());
  ASSERT_TRUE(stat.has_value());
  EXPECT_EQ(stat->process_group, ::getpgrp());
  EXPECT_GT(stat->start_time, 0u);
}

TEST_F(LocalProcessTest, StartsDetachedInItsOwnGroupWithTheEnvironmentAndLog) {
  auto id = Start({"/bin/sh", "-c", "echo \"hello $BERTH_TEST_VAR from $(pwd)\"; exec sleep 60"});
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->pgid, id->pid);
  EXPECT_NE(id->sid, ::getsid(0));
  EXPECT_TRUE(IsRunning(*id));
  EXPECT_TRUE(CheckProcess(*id).running);
  EXPECT_TRUE(Eventually([&] {
    return ReadFile(log()).find("hello value from " + tmp_.path().string()) != std::string::npos;
  }));
  EXPECT_EQ(ReadProcStat(id->pid)->session, id->sid);

  ASSERT_TRUE(StopProcessGroup(*id, milliseconds(5000), RealStopEnv()).ok());
  EXPECT_FALSE(IsRunning(*id));
  EXPECT_TRUE(GroupMembers(*id).empty());
}

TEST_F(LocalProcessTest, StopReachesTheWholeGroup) {
  // The shell's background child stays in the group after the shell itself is gone.
  auto id = Start({"/bin/sh", "-c", "sleep 60 & echo child $!; wait"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(Eventually([&] { return GroupMembers(*id).size() == 2; }));
  ASSERT_TRUE(StopProcessGroup(*id, milliseconds(5000), RealStopEnv()).ok());
  EXPECT_TRUE(GroupMembers(*id).empty());
}

TEST_F(LocalProcessTest, SigkillAfterTheGrace) {
  auto id = Start({"/bin/sh", "-c", "trap '' TERM; echo trapped; while :; do sleep 1; done"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(Eventually([&] { return ReadFile(log()).find("trapped") != std::string::npos; }));
  ASSERT_TRUE(StopProcessGroup(*id, milliseconds(200), RealStopEnv()).ok());
  EXPECT_FALSE(IsRunning(*id));
  EXPECT_TRUE(GroupMembers(*id).empty());
}

TEST_F(LocalProcessTest, TellsHowItEnded) {
  auto id = Start({"/bin/sh", "-c", "exit 3"});
  ASSERT_TRUE(id.ok()) << id.status();
  ProcessStatus status;
  ASSERT_TRUE(Eventually([&] {
    status = CheckProcess(*id);
    return !status.running;
  }));
  EXPECT_EQ(status.exit_text, "exited with code 3");
}

TEST_F(LocalProcessTest, ExecFailureIsReportedAndLogged) {
  fs::path script = tmp_.path() / "not-executable.sh";
  std::ofstream(script) << "#!/bin/sh\n";
  fs::permissions(script, fs::perms::owner_read | fs::perms::owner_write);
  compute::LaunchSpec spec;
  spec.argv = {script.string()};
  spec.working_dir = tmp_.path();
  // PrepareSpawn checks too; make the plan by hand so the exec itself fails.
  compute::local::SpawnPlan plan;
  plan.program = script.string();
  plan.argv = spec.argv;
  plan.argv0 = script.string();
  plan.working_dir = tmp_.path().string();
  auto id = StartDetached(plan, log());
  EXPECT_TRUE(absl::IsFailedPrecondition(id.status()));
  EXPECT_THAT(std::string(id.status().message()), HasSubstr("cannot execute"));
  EXPECT_THAT(ReadFile(log()), HasSubstr("berth: cannot execute"));
}

TEST_F(LocalProcessTest, AReusedPidIsNeverSignalled) {
  auto id = Start({"/bin/sh", "-c", "exec sleep 60"});
  ASSERT_TRUE(id.ok()) << id.status();
  // The same pid with another start time and no recorded group: some other process.
  ProcessIdentity stranger = *id;
  stranger.start_time += 1;
  stranger.pgid = 0;
  stranger.sid = 0;
  EXPECT_FALSE(IsRunning(stranger));
  EXPECT_FALSE(CheckProcess(stranger).running);
  ASSERT_TRUE(StopProcessGroup(stranger, milliseconds(100), RealStopEnv()).ok());
  EXPECT_TRUE(IsRunning(*id));
}

}  // namespace
}  // namespace berth::cli
