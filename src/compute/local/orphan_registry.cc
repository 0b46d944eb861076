#include "compute/local/orphan_registry.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace berth::compute::local {
namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

struct PidRecord {
  pid_t pid = 0;
  uint64_t start_time = 0;
};

std::optional<PidRecord> ParseRecord(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string pid_text, start_text;
  if (!(in >> pid_text >> start_text)) return std::nullopt;
  PidRecord record;
  if (!ParseNumber(pid_text, &record.pid) || !ParseNumber(start_text, &record.start_time) ||
      record.pid <= 1) {
    return std::nullopt;
  }
  return record;
}

// Processes of group `pgid` (also its session: the driver starts each instance with setsid)
// that started no earlier than `not_before`, zombies excluded.
std::vector<pid_t> GroupMembers(pid_t pgid, uint64_t not_before) {
  std::vector<pid_t> members;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end;
       it.increment(ec)) {
    pid_t pid = 0;
    if (!ParseNumber(it->path().filename().native(), &pid)) continue;
    std::optional<ProcStat> stat = ReadProcStat(pid);
    if (stat && stat->state != 'Z' && stat->process_group == pgid && stat->session == pgid &&
        stat->start_time >= not_before) {
      members.push_back(pid);
    }
  }
  return members;
}

}  // namespace

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may itself contain spaces and ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::vector<std::string> values;
  std::string value;
  while (values.size() < 20 && fields >> value) values.push_back(std::move(value));
  // After the name: [0] state (field 3), [2] pgrp (5), [3] session (6), [19] starttime (22).
  ProcStat stat;
  if (values.size() < 20 || values[0].size() != 1 || !ParseNumber(values[2], &stat.process_group) ||
      !ParseNumber(values[3], &stat.session) || !ParseNumber(values[19], &stat.start_time)) {
    return std::nullopt;
  }
  stat.state = values[0][0];
  return stat;
}

OrphanRegistry::OrphanRegistry(std::filesystem::path dir) : dir_(std::move(dir)) {}

std::filesystem::path OrphanRegistry::RecordPath(pid_t pid) const {
  return dir_ / (std::to_string(pid) + ".pid");
}

absl::Status OrphanRegistry::Record(pid_t pid, const std::string& instance_key) {
  if (dir_.empty()) return absl::OkStatus();
  std::optional<ProcStat> stat = ReadProcStat(pid);
  if (!stat) {
    return absl::InternalError(absl::StrCat("cannot read /proc/", pid, "/stat"));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create process registry '", dir_.string(), "': ", ec.message()));
  }
  // Written aside and renamed so a crash never leaves a half-written record.
  std::filesystem::path final_path = RecordPath(pid);
  std::filesystem::path temp_path = final_path;
  temp_path += ".tmp";
  {
    std::ofstream out(temp_path, std::ios::trunc);
    out << pid << ' ' << stat->start_time << ' ' << instance_key << '\n';
    out.close();
    if (!out) {
      std::filesystem::remove(temp_path, ec);
      return absl::FailedPreconditionError(
          absl::StrCat("cannot write process record '", temp_path.string(), "'"));
    }
  }
  std::filesystem::rename(temp_path, final_path, ec);
  if (ec) {
    std::filesystem::remove(temp_path, ec);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write process record '", final_path.string(), "': ", ec.message()));
  }
  return absl::OkStatus();
}

void OrphanRegistry::Remove(pid_t pid) {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove(RecordPath(pid), ec);
}

absl::StatusOr<int> OrphanRegistry::Sweep(const std::set<pid_t>& keep) {
  if (dir_.empty()) return 0;
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) return 0;
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    files.push_back(it->path());
  }
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot list process registry '", dir_.string(), "': ", ec.message()));
  }
  int killed = 0;
  for (const std::filesystem::path& file : files) {
    if (file.extension() != ".pid") {
      // Leftover of a Record interrupted by a crash.
      if (file.extension() == ".tmp") std::filesystem::remove(file, ec);
      continue;
    }
    std::optional<PidRecord> record = ParseRecord(file);
    if (record && keep.count(record->pid) > 0) continue;
    if (record) {
      std::optional<ProcStat> leader = ReadProcStat(record->pid);
      if (leader && leader->start_time == record->start_time) {
        if (::kill(-record->pid, SIGKILL) == 0 || ::kill(record->pid, SIGKILL) == 0) ++killed;
      } else if (!leader) {
        // The leader died (its parent-death signal fires when berthd dies) but the rest of its
        // group may live on. While any member lives, the kernel does not hand the pid out
        // again, so a group and session with that id are ours unless the pid wrapped around
        // and a later leader died as well; the start time rules out anything older.
        std::vector<pid_t> members = GroupMembers(record->pid, record->start_time);
        bool any = false;
        for (pid_t member : members) any |= ::kill(member, SIGKILL) == 0;
        if (any) ++killed;
      }
      // A live leader with another start time is an unrelated process that reused the pid.
    }
    std::filesystem::remove(file, ec);
  }
  return killed;
}

}  // namespace berth::compute::local
