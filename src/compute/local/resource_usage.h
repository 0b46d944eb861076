#pragma once
// What an instance's processes use, read from Linux: its cgroup when it has one (the kernel
// counts every process that ever ran in it), else /proc summed over its processes.
//
// Threading: blocking file reads; safe from any thread.

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "compute/compute_driver.h"
#include "compute/local/cgroups.h"

namespace berth::compute::local {

// The processes of one instance: those of the session `leader` leads (an instance is started
// as a session leader) and, for a sandboxed instance, those in the PID namespace of
// `sandbox_pid` (which a process that called setsid inside the sandbox has left the session
// for). `sandbox_pid` <= 0 when not sandboxed.
struct InstanceProcesses {
  pid_t leader = -1;
  pid_t sandbox_pid = -1;
};

// CPU time (user + system, including reaped children) and resident memory summed over the
// instance's live processes. NOT_FOUND when none of them exists any more.
absl::StatusOr<ResourceUsage> ProcessUsage(const InstanceProcesses& processes);

// The group's CPU time (v2 cpu.stat usage_usec, v1 cpuacct.usage), nullopt when not readable.
std::optional<double> CgroupCpuSeconds(const InstanceGroup& group);
// The group's memory in use (v2 memory.current, v1 memory.usage_in_bytes), nullopt when the
// group has no memory controller.
std::optional<uint64_t> CgroupMemoryBytes(const InstanceGroup& group);

// The cgroup's figures where it has them, else the processes'.
absl::StatusOr<ResourceUsage> InstanceUsage(const InstanceProcesses& processes,
                                            const std::optional<InstanceGroup>& group);

}  // namespace berth::compute::local
