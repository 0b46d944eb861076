#include "compute/local/rotating_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace berth::compute::local {
namespace {

int OpenForAppend(const std::filesystem::path& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

uint64_t FileSize(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Writes everything or gives up on the first hard error.
void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

std::filesystem::path RotatedLogPath(const std::filesystem::path& log_file) {
  std::filesystem::path rotated = log_file;
  rotated += ".1";
  return rotated;
}

absl::StatusOr<std::unique_ptr<RotatingLogFile>> RotatingLogFile::Open(std::filesystem::path path,
                                                                       uint64_t max_bytes) {
  if (path.empty()) return absl::InvalidArgumentError("log file path is empty");
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create log folder '", path.parent_path().string(), "': ", ec.message()));
  }
  int fd = OpenForAppend(path);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open log file '", path.string(), "': ", std::strerror(errno)));
  }
  uint64_t size = FileSize(fd);
  return std::unique_ptr<RotatingLogFile>(
      new RotatingLogFile(std::move(path), max_bytes, fd, size));
}

RotatingLogFile::RotatingLogFile(std::filesystem::path path, uint64_t max_bytes, int fd,
                                 uint64_t size)
    : path_(std::move(path)), max_bytes_(max_bytes), fd_(fd), size_(size) {}

RotatingLogFile::~RotatingLogFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool RotatingLogFile::Reopen() {
  fd_ = OpenForAppend(path_);
  if (fd_ < 0) return false;
  size_ = FileSize(fd_);
  return true;
}

void RotatingLogFile::Rotate() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  // A failed rename (the folder vanished) leaves the old file to keep growing; reopening it
  // is still better than losing output.
  ::rename(path_.c_str(), RotatedLogPath(path_).c_str());
  if (Reopen() && size_ > 0 && size_ >= max_bytes_) {
    // The rename failed and the file is still full: truncate rather than grow without bound.
    if (::ftruncate(fd_, 0) == 0) size_ = 0;
  }
}

void RotatingLogFile::Append(std::string_view data) {
  while (!data.empty()) {
    if (fd_ < 0 && !Reopen()) return;
    if (max_bytes_ == 0) {
      WriteAll(fd_, data);
      size_ += data.size();
      return;
    }
    uint64_t room = size_ < max_bytes_ ? max_bytes_ - size_ : 0;
    if (room == 0) {
      Rotate();
      continue;
    }
    size_t n = data.size();
    if (n > room) {
      size_t newline = data.substr(0, room).rfind('\n');
      if (newline != std::string_view::npos) {
        n = newline + 1;
      } else if (size_ > 0) {
        Rotate();  // start the line in a fresh file instead of splitting it
        continue;
      } else {
        n = room;  // one line longer than a whole file: it has to be split
      }
    }
    WriteAll(fd_, data.substr(0, n));
    size_ += n;
    data.remove_prefix(n);
  }
}

}  // namespace berth::compute::local
