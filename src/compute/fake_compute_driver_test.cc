#include "compute/fake_compute_driver.h"

#include <signal.h>

#include "gtest/gtest.h"

namespace berth::compute {
namespace {

LaunchSpec Spec(const std::string& key) {
  LaunchSpec spec;
  spec.instance_key = key;
  spec.argv = {"server"};
  return spec;
}

TEST(FakeComputeDriverTest, RecordsStartsAndSimulatedExits) {
  FakeComputeDriver driver;
  absl::StatusOr<InstanceId> a = driver.Start(Spec("e/d/0"));
  absl::StatusOr<InstanceId> b = driver.Start(Spec("e/d/1"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(driver.starts().size(), 2u);
  EXPECT_EQ(driver.SpecOf(*b)->instance_key, "e/d/1");
  EXPECT_EQ(driver.Running(), (std::set<InstanceId>{*a, *b}));
  EXPECT_EQ(driver.Pid(*a), FakeComputeDriver::kFakePidBase + static_cast<int>(*a));

  driver.SimulateExit(*a, 2);
  driver.SimulateExit(*a, 3);  // already ended: ignored
  std::vector<ExitInfo> exits = driver.PollExits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].id, *a);
  EXPECT_EQ(exits[0].exit_code, 2);
  EXPECT_TRUE(driver.PollExits().empty());
  EXPECT_FALSE(driver.IsRunning(*a));
  EXPECT_FALSE(driver.Pid(*a).has_value());
  EXPECT_TRUE(driver.IsRunning(*b));
}

TEST(FakeComputeDriverTest, ReportsTheUsageATestSets) {
  FakeComputeDriver driver;
  absl::StatusOr<InstanceId> a = driver.Start(Spec("e/d/0"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(driver.Usage(*a)->cpu_seconds, 0);
  driver.SetUsage(*a, {.cpu_seconds = 1.5, .rss_bytes = 4096});
  EXPECT_EQ(driver.Usage(*a)->cpu_seconds, 1.5);
  EXPECT_EQ(driver.Usage(*a)->rss_bytes, 4096u);
  driver.SimulateExit(*a, 0);
  EXPECT_TRUE(absl::IsNotFound(driver.Usage(*a).status()));
  EXPECT_TRUE(absl::IsNotFound(driver.Usage(999).status()));
}

TEST(FakeComputeDriverTest, StopEndsInstanceUnlessToldOtherwise) {
  FakeComputeDriver driver;
  InstanceId a = *driver.Start(Spec("e/d/0"));
  driver.Stop(a, std::chrono::milliseconds(500));
  ASSERT_EQ(driver.stops().size(), 1u);
  EXPECT_EQ(driver.stops()[0].grace, std::chrono::milliseconds(500));
  std::vector<ExitInfo> exits = driver.PollExits();
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].signal, SIGTERM);

  driver.set_exit_on_stop(false);
  InstanceId b = *driver.Start(Spec("e/d/1"));
  driver.Stop(b, std::chrono::milliseconds(0));
  EXPECT_TRUE(driver.PollExits().empty());
  EXPECT_TRUE(driver.IsRunning(b));
  driver.SimulateSignal(b, SIGKILL);
  EXPECT_EQ(driver.PollExits().at(0).signal, SIGKILL);
}

TEST(FakeComputeDriverTest, FailsStartsOnRequestAndKillsAll) {
  FakeComputeDriver driver;
  driver.FailNextStart(absl::FailedPreconditionError("cannot execute 'x'"));
  EXPECT_EQ(driver.Start(Spec("e/d/0")).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(driver.starts().at(0).id, 0u);
  driver.Start(Spec("e/d/1")).IgnoreError();
  driver.Start(Spec("e/d/2")).IgnoreError();
  driver.KillAll();
  EXPECT_EQ(driver.kill_all_calls(), 1);
  EXPECT_TRUE(driver.Running().empty());
  EXPECT_EQ(driver.PollExits().size(), 2u);
}

}  // namespace
}  // namespace berth::compute
