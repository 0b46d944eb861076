#include "compute/local/resource_usage.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace berth::compute::local {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> ReadSmallFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The /proc/<pid>/stat fields used here (proc(5) numbering).
struct StatFields {
  char state = '?';
  pid_t session = 0;                                      // 6
  uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;  // 14-17, clock ticks
  uint64_t rss_pages = 0;                                 // 24, as in statm's second field
};

std::optional<StatFields> ReadStat(pid_t pid) {
  std::optional<std::string> text = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*text).substr(close + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state).
  if (fields.size() < 22) return std::nullopt;
  auto field = [&](int number) { return fields[number - 3]; };
  StatFields stat;
  stat.state = field(3).empty() ? '?' : field(3)[0];
  int64_t session = 0;
  if (!absl::SimpleAtoi(field(6), &session) || !absl::SimpleAtoi(field(14), &stat.utime) ||
      !absl::SimpleAtoi(field(15), &stat.stime) || !absl::SimpleAtoi(field(16), &stat.cutime) ||
      !absl::SimpleAtoi(field(17), &stat.cstime) || !absl::SimpleAtoi(field(24), &stat.rss_pages)) {
    return std::nullopt;
  }
  stat.session = static_cast<pid_t>(session);
  return stat;
}

std::string PidNamespace(pid_t pid) {
  std::error_code ec;
  fs::path link = fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", ec);
  return ec ? std::string() : link.string();
}

std::optional<uint64_t> ReadNumber(const fs::path& path) {
  std::optional<std::string> text = ReadSmallFile(path);
  uint64_t value = 0;
  if (!text || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &value)) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<ResourceUsage> ProcessUsage(const InstanceProcesses& processes) {
  const std::string sandbox_namespace =
      processes.sandbox_pid > 0 ? PidNamespace(processes.sandbox_pid) : std::string();
  const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const uint64_t page_bytes = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));

  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return absl::InternalError("cannot read /proc");
  uint64_t ticks = 0;
  uint64_t pages = 0;
  int members = 0;
  while (struct dirent* entry = ::readdir(proc)) {
    int64_t pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
    std::optional<StatFields> stat = ReadStat(static_cast<pid_t>(pid));
    // A zombie's time reaches its parent's cutime once reaped; until then it is still its own.
    if (!stat) continue;
    bool member =
        pid == processes.leader || stat->session == processes.leader ||
        (!sandbox_namespace.empty() && PidNamespace(static_cast<pid_t>(pid)) == sandbox_namespace);
    if (!member) continue;
    ++members;
    ticks += stat->utime + stat->stime + stat->cutime + stat->cstime;
    pages += stat->rss_pages;
  }
  ::closedir(proc);
  if (members == 0) {
    return absl::NotFoundError("no process of session " + std::to_string(processes.leader));
  }
  return ResourceUsage{.cpu_seconds = static_cast<double>(ticks) / ticks_per_second,
                       .rss_bytes = pages * page_bytes};
}

std::optional<double> CgroupCpuSeconds(const InstanceGroup& group) {
  for (const fs::path& dir : group.dirs) {
    if (std::optional<std::string> stat = ReadSmallFile(dir / "cpu.stat")) {
      for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
        uint64_t usec = 0;
        if (absl::ConsumePrefix(&line, "usage_usec ") && absl::SimpleAtoi(line, &usec)) {
          return static_cast<double>(usec) / 1e6;
        }
      }
    }
    if (std::optional<uint64_t> nanos = ReadNumber(dir / "cpuacct.usage")) {
      return static_cast<double>(*nanos) / 1e9;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> CgroupMemoryBytes(const InstanceGroup& group) {
  if (group.memory_dir.empty()) return std::nullopt;
  return ReadNumber(group.memory_dir /
                    (group.memory_v2 ? "memory.current" : "memory.usage_in_bytes"));
}

absl::StatusOr<ResourceUsage> InstanceUsage(const InstanceProcesses& processes,
                                            const std::optional<InstanceGroup>& group) {
  std::optional<double> cpu = group ? CgroupCpuSeconds(*group) : std::nullopt;
  std::optional<uint64_t> memory = group ? CgroupMemoryBytes(*group) : std::nullopt;
  if (cpu && memory) return ResourceUsage{.cpu_seconds = *cpu, .rss_bytes = *memory};
  absl::StatusOr<ResourceUsage> usage = ProcessUsage(processes);
  if (!usage.ok()) return usage;
  if (cpu) usage->cpu_seconds = *cpu;
  if (memory) usage->rss_bytes = *memory;
  return usage;
}

}  // namespace berth::compute::local
