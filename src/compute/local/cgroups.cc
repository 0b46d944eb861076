#include "compute/local/cgroups.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::compute::local {
namespace fs = std::filesystem;
namespace {

bool WriteFile(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
  out.flush();
  return static_cast<bool>(out);
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The mount point of each cgroup hierarchy: controller (or "" for v2) -> mount point.
std::vector<std::pair<std::string, fs::path>> CgroupMounts() {
  std::vector<std::pair<std::string, fs::path>> mounts;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> ... - <fstype> <source> <super>"
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::vector<std::string> head = absl::StrSplit(line.substr(0, dash), ' ');
    std::vector<std::string> tail = absl::StrSplit(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    if (tail[0] == "cgroup2") {
      mounts.emplace_back("", head[4]);
    } else if (tail[0] == "cgroup") {
      for (absl::string_view option : absl::StrSplit(tail[2], ',')) {
        if (option == "memory" || option == "cpu")
          mounts.emplace_back(std::string(option), head[4]);
      }
    }
  }
  return mounts;
}

// berthd's own group in each hierarchy: controller (or "" for v2) -> path.
std::vector<std::pair<std::string, std::string>> OwnGroups() {
  std::vector<std::pair<std::string, std::string>> groups;
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[0] == "0" && parts[1].empty()) {
      groups.emplace_back("", parts[2]);
      continue;
    }
    for (absl::string_view controller : absl::StrSplit(parts[1], ',')) {
      groups.emplace_back(std::string(controller), parts[2]);
    }
  }
  return groups;
}

// `<mount>/<own group>/<root_name>` when it exists or can be created by us.
fs::path UsableBase(const fs::path& mount, const std::string& own, const std::string& root_name,
                    const char* probe_file) {
  fs::path base = mount / fs::path(own).relative_path() / root_name;
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec || ::access(base.c_str(), W_OK) != 0 || !fs::exists(base / probe_file, ec)) return {};
  return base;
}

}  // namespace

InstanceCgroups InstanceCgroups::Detect(const std::string& root_name) {
  InstanceCgroups cgroups;
  auto mounts = CgroupMounts();
  auto own = OwnGroups();
  auto own_of = [&](const std::string& controller) -> std::optional<std::string> {
    for (const auto& [name, path] : own) {
      if (name == controller) return path;
    }
    return std::nullopt;
  };
  for (const auto& [controller, mount] : mounts) {
    if (controller.empty()) continue;
    std::optional<std::string> group = own_of(controller);
    if (!group) continue;
    if (controller == "memory" && cgroups.memory_base_.empty()) {
      cgroups.memory_base_ = UsableBase(mount, *group, root_name, "memory.limit_in_bytes");
    } else if (controller == "cpu" && cgroups.cpu_base_.empty()) {
      cgroups.cpu_base_ = UsableBase(mount, *group, root_name, "cpu.cfs_quota_us");
    }
  }
  if (cgroups.memory_base_.empty() && cgroups.cpu_base_.empty()) {
    // The unified hierarchy: our group must delegate memory and cpu to its children, which
    // fails (EBUSY) when processes live in it; then there is no v2 either.
    for (const auto& [controller, mount] : mounts) {
      if (!controller.empty()) continue;
      std::optional<std::string> group = own_of("");
      if (!group) break;
      fs::path own_dir = mount / fs::path(*group).relative_path();
      fs::path base = own_dir / root_name;
      std::error_code ec;
      fs::create_directories(base, ec);
      if (ec || ::access(base.c_str(), W_OK) != 0) break;
      WriteFile(base / "cgroup.subtree_control", "+memory +cpu");
      std::string enabled = ReadFile(base / "cgroup.subtree_control");
      if (enabled.find("memory") != std::string::npos) cgroups.memory_base_ = base;
      if (enabled.find("cpu") != std::string::npos) cgroups.cpu_base_ = base;
      cgroups.v2_ = !cgroups.memory_base_.empty() || !cgroups.cpu_base_.empty();
      break;
    }
  }
  return cgroups;
}

std::string InstanceCgroups::Describe() const {
  if (memory_base_.empty() && cpu_base_.empty()) return "none";
  return absl::StrCat(v2_ ? "cgroup v2" : "cgroup v1",
                      " (memory: ", memory_base_.empty() ? "no" : memory_base_.string(),
                      ", cpu: ", cpu_base_.empty() ? "no" : cpu_base_.string(), ")");
}

absl::StatusOr<std::optional<InstanceGroup>> InstanceCgroups::Create(
    const std::string& name, const InstanceLimits& limits) const {
  bool memory = limits.memory_bytes > 0 && !memory_base_.empty();
  bool cpu = limits.cpu_millis > 0 && !cpu_base_.empty();
  if (!memory && !cpu) return std::nullopt;
  InstanceGroup group;
  auto make = [&](const fs::path& base) -> absl::StatusOr<fs::path> {
    fs::path dir = base / name;
    std::error_code ec;
    fs::create_directory(dir, ec);
    if (ec)
      return absl::InternalError(
          absl::StrCat("cannot create cgroup ", dir.string(), ": ", ec.message()));
    group.dirs.push_back(dir);
    group.procs_files.push_back((dir / "cgroup.procs").string());
    return dir;
  };
  auto fail = [&](const fs::path& file) {
    Remove(group);
    return absl::InternalError(absl::StrCat("cannot write ", file.string()));
  };
  if (v2_) {
    auto dir = make(memory_base_.empty() ? cpu_base_ : memory_base_);
    if (!dir.ok()) return dir.status();
    if (memory) {
      group.memory_dir = *dir;
      group.memory_v2 = true;
      if (!WriteFile(*dir / "memory.max", std::to_string(limits.memory_bytes))) {
        return fail(*dir / "memory.max");
      }
      WriteFile(*dir / "memory.swap.max", "0");
    }
    if (cpu && !WriteFile(*dir / "cpu.max", absl::StrCat(limits.cpu_millis * 100, " 100000"))) {
      return fail(*dir / "cpu.max");
    }
    return group;
  }
  if (memory) {
    auto dir = make(memory_base_);
    if (!dir.ok()) return dir.status();
    group.memory_dir = *dir;
    if (!WriteFile(*dir / "memory.limit_in_bytes", std::to_string(limits.memory_bytes))) {
      return fail(*dir / "memory.limit_in_bytes");
    }
    // With swap accounting, memory+swap gets the same limit so the instance cannot swap past it.
    std::error_code ec;
    if (fs::exists(*dir / "memory.memsw.limit_in_bytes", ec)) {
      WriteFile(*dir / "memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes));
    }
  }
  if (cpu) {
    auto dir = make(cpu_base_);
    if (!dir.ok()) return dir.status();
    if (!WriteFile(*dir / "cpu.cfs_period_us", "100000") ||
        !WriteFile(*dir / "cpu.cfs_quota_us", std::to_string(limits.cpu_millis * 100))) {
      return fail(*dir / "cpu.cfs_quota_us");
    }
  }
  return group;
}

int InstanceCgroups::OomKills(const InstanceGroup& group) {
  if (group.memory_dir.empty()) return 0;
  std::string text =
      ReadFile(group.memory_dir / (group.memory_v2 ? "memory.events" : "memory.oom_control"));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, "oom_kill ")) return std::atoi(std::string(line.substr(9)).c_str());
  }
  return 0;
}

void InstanceCgroups::Remove(const InstanceGroup& group) {
  for (const fs::path& dir : group.dirs) ::rmdir(dir.c_str());
}

}  // namespace berth::compute::local
