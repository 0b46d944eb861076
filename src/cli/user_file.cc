#include "cli/user_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace berth::cli {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

std::string Size(uint64_t bytes) {
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) {
    return absl::StrCat(bytes >> 20, " MiB");
  }
  return absl::StrCat(bytes, " bytes");
}

absl::Status TooLarge(const std::string& name, uint64_t max_bytes, const std::string& size) {
  return absl::InvalidArgumentError(absl::StrCat(
      name, ": the file is ", size, "; berth reads files of at most ", Size(max_bytes)));
}

}  // namespace

absl::StatusOr<std::string> ReadUserFile(const std::filesystem::path& file, uint64_t max_bytes) {
  const std::string name = file.string();
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(name, ": no such file"));
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": cannot read the file: ", std::strerror(error)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": cannot read the file: ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", KindOf(info.st_mode), ", not a regular file; give a file"));
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size > max_bytes) return TooLarge(name, max_bytes, Size(size));
  std::string contents;
  contents.reserve(size);
  char buffer[64 * 1024];
  for (;;) {
    ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": cannot read the file: ", std::strerror(errno)));
    }
    if (got == 0) break;
    // The file may grow while it is read.
    if (contents.size() + static_cast<uint64_t>(got) > max_bytes) {
      return TooLarge(name, max_bytes, absl::StrCat("more than ", Size(max_bytes)));
    }
    contents.append(buffer, static_cast<size_t>(got));
  }
  return contents;
}

}  // namespace berth::cli
