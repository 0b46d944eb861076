#pragma once
// Per-instance resource limits with Linux control groups: cgroup v1 memory and cpu controllers
// or the v2 unified hierarchy, below berthd's own group (so the limits nest under whatever
// limits berthd has). Where berthd may not create groups, memory falls back to RLIMIT_AS
// (per process, address space rather than resident memory) and CPU is not limited; the
// instance's log says so.
//
// Threading: Create/OomKills/Remove are blocking file operations, called on the driver's
// spawn thread. The object itself is immutable after Detect().

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "compute/compute_driver.h"

namespace berth::compute::local {

struct InstanceGroup {
  std::vector<std::filesystem::path> dirs;  // one per hierarchy used; removed by Remove()
  std::vector<std::string> procs_files;     // "<dir>/cgroup.procs", joined by the child
  std::filesystem::path memory_dir;         // the one holding the memory limit, if any
  bool memory_v2 = false;
};

class InstanceCgroups {
 public:
  // Finds berthd's groups (/proc/self/cgroup, /proc/self/mountinfo) and whether it may create
  // groups below them. `root_name` names the folder for instances ("berth-instances").
  static InstanceCgroups Detect(const std::string& root_name = "berth-instances");

  bool memory_available() const { return !memory_base_.empty(); }
  bool cpu_available() const { return !cpu_base_.empty(); }
  // "cgroup v1", "cgroup v2" or "none": for the startup log.
  std::string Describe() const;

  // A group for one instance with `limits` written; nullopt when no limit can be set this way
  // (none asked, or no usable controller). `name` must be a safe folder name.
  absl::StatusOr<std::optional<InstanceGroup>> Create(const std::string& name,
                                                      const InstanceLimits& limits) const;
  // How many processes of the group the kernel killed for exceeding its memory limit.
  static int OomKills(const InstanceGroup& group);
  // Removes the group's folders (empty once its processes exited); best effort.
  static void Remove(const InstanceGroup& group);

 private:
  std::filesystem::path memory_base_;  // where instance groups with a memory limit go
  std::filesystem::path cpu_base_;
  bool v2_ = false;
};

}  // namespace berth::compute::local
