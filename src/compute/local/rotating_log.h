#pragma once
// RotatingLogFile: where an instance's stdout and stderr end up. Appends to one file and, once
// it reaches its size limit, renames it to "<path>.1" (replacing the previous one) and starts a
// fresh file, so an instance's logs never use more than about twice the limit.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::compute::local {

class RotatingLogFile {
 public:
  // Opens (creating it and its parent folders) `path` for appending. `max_bytes` 0 means the
  // file never rotates.
  static absl::StatusOr<std::unique_ptr<RotatingLogFile>> Open(std::filesystem::path path,
                                                               uint64_t max_bytes);
  ~RotatingLogFile();
  RotatingLogFile(const RotatingLogFile&) = delete;
  RotatingLogFile& operator=(const RotatingLogFile&) = delete;

  // Appends all of `data`. A file ends at a line boundary where the data allows it, so lines
  // are split across the two files only when a single line is longer than the limit.
  // Write errors (disk full) drop the data: an instance must never wait for its log.
  void Append(std::string_view data);

  const std::filesystem::path& path() const { return path_; }

 private:
  RotatingLogFile(std::filesystem::path path, uint64_t max_bytes, int fd, uint64_t size);
  bool Reopen();
  void Rotate();

  std::filesystem::path path_;
  uint64_t max_bytes_;
  int fd_;         // -1 after a failed reopen; the next Append retries
  uint64_t size_;  // bytes in the current file
};

// The rotated predecessor of `log_file`: "<log_file>.1".
std::filesystem::path RotatedLogPath(const std::filesystem::path& log_file);

}  // namespace berth::compute::local
