#include "compute/local/resource_usage.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace berth::compute::local {
namespace {

namespace fs = std::filesystem;

fs::path FreshDir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ResourceUsageTest, ReadsCgroupV2Files) {
  fs::path dir = FreshDir("usage_cgroup_v2");
  std::ofstream(dir / "cpu.stat") << "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n";
  std::ofstream(dir / "memory.current") << "1048576\n";
  InstanceGroup group{.dirs = {dir}, .memory_dir = dir, .memory_v2 = true};
  EXPECT_EQ(CgroupCpuSeconds(group), 2.5);
  EXPECT_EQ(CgroupMemoryBytes(group), 1048576u);
  // Both from the group: the processes are not looked at (this leader does not exist).
  absl::StatusOr<ResourceUsage> usage = InstanceUsage({.leader = 999999999}, group);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->cpu_seconds, 2.5);
  EXPECT_EQ(usage->rss_bytes, 1048576u);
}

TEST(ResourceUsageTest, ReadsCgroupV1Files) {
  fs::path memory = FreshDir("usage_cgroup_v1_memory");
  fs::path cpu = FreshDir("usage_cgroup_v1_cpu");
  std::ofstream(memory / "memory.usage_in_bytes") << "4096\n";
  std::ofstream(cpu / "cpuacct.usage") << "1500000000\n";
  InstanceGroup group{.dirs = {memory, cpu}, .memory_dir = memory};
  EXPECT_EQ(CgroupCpuSeconds(group), 1.5);
  EXPECT_EQ(CgroupMemoryBytes(group), 4096u);
}

TEST(ResourceUsageTest, GroupWithoutFiguresFallsBackToProcesses) {
  fs::path dir = FreshDir("usage_cgroup_empty");
  InstanceGroup group{.dirs = {dir}};
  EXPECT_EQ(CgroupCpuSeconds(group), std::nullopt);
  EXPECT_EQ(CgroupMemoryBytes(group), std::nullopt);
  // This test process leads no session of its own, so name its session's leader.
  absl::StatusOr<ResourceUsage> usage = InstanceUsage({.leader = ::getsid(0)}, group);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_GT(usage->rss_bytes, 0u);
}

TEST(ResourceUsageTest, NoProcessIsNotFound) {
  EXPECT_TRUE(absl::IsNotFound(ProcessUsage({.leader = 999999999}).status()));
}

}  // namespace
}  // namespace berth::compute::local
