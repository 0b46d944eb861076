#pragma once
// OrphanRegistry: a folder of one small file per running instance ("<pid>.pid" holding
// "<pid> <starttime> <instance_key>"), so that a berthd restarted after a crash can kill the
// processes its predecessor left behind. The start time (field 22 of /proc/<pid>/stat) tells a
// recorded process from an unrelated one that later got the same pid.
//
// Thread-safety: Record and Remove touch distinct files and may run concurrently; Sweep is
// meant for startup.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace berth::compute::local {

// The fields of /proc/<pid>/stat that matter here.
struct ProcStat {
  char state = '?';  // 'Z' for a zombie
  pid_t process_group = 0;
  pid_t session = 0;
  uint64_t start_time = 0;  // clock ticks after boot
};

// Reads /proc/<pid>/stat; nullopt if the process does not exist.
std::optional<ProcStat> ReadProcStat(pid_t pid);

class OrphanRegistry {
 public:
  // An empty `dir` disables the registry: Record, Remove and Sweep do nothing.
  explicit OrphanRegistry(std::filesystem::path dir);

  // Records a process that leads its own process group and session (pgid == sid == pid).
  // The process must not have been reaped yet (a zombie is fine).
  absl::Status Record(pid_t pid, const std::string& instance_key);

  void Remove(pid_t pid);

  // Kills what every record (except those of `keep`) left behind and deletes the records:
  // the whole process group when the recorded process still runs with its recorded start
  // time; when it is gone, the members of its group that started after it. A process whose pid
  // was reused by something else is never touched. Returns how many records had processes to
  // kill.
  absl::StatusOr<int> Sweep(const std::set<pid_t>& keep);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path RecordPath(pid_t pid) const;

  std::filesystem::path dir_;
};

}  // namespace berth::compute::local
