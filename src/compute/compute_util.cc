// Helpers declared in compute_driver.h that do not depend on a driver.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "compute/compute_driver.h"

namespace berth::compute {
namespace {

constexpr std::streamoff kTailBlock = 16 * 1024;

}  // namespace

std::string TailLog(const std::filesystem::path& log_file, int lines) {
  if (lines <= 0) return "";
  std::filesystem::path rotated = log_file;
  rotated += ".1";
  // The rotated file followed by the current one form one stream, read backwards in blocks
  // until `lines` line breaks are found (the break ending the last line does not count).
  std::vector<std::string> chunks;  // newest first
  bool at_stream_end = true;
  int breaks = 0;
  bool done = false;
  for (const std::filesystem::path& file : {log_file, rotated}) {
    if (done) break;
    std::ifstream in(file, std::ios::binary | std::ios::ate);
    if (!in) continue;
    std::streamoff pos = in.tellg();
    if (pos < 0) continue;
    while (pos > 0 && !done) {
      std::streamoff length = std::min(kTailBlock, pos);
      pos -= length;
      std::string block(static_cast<size_t>(length), '\0');
      in.seekg(pos);
      if (!in.read(block.data(), length)) {
        done = true;  // the file shrank under us (rotated): keep what was read
        break;
      }
      size_t keep_from = 0;
      for (size_t i = block.size(); i-- > 0;) {
        bool is_break = block[i] == '\n';
        if (at_stream_end) {
          at_stream_end = false;
          if (is_break) continue;
        }
        if (is_break && ++breaks == lines) {
          keep_from = i + 1;
          done = true;
          break;
        }
      }
      chunks.push_back(block.substr(keep_from));
    }
  }
  std::string tail;
  for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) tail += *it;
  return tail;
}

absl::StatusOr<int> PickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    int error = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrCat("cannot pick a free port on 127.0.0.1: ", std::strerror(error)));
  }
  ::close(fd);
  return static_cast<int>(ntohs(address.sin_port));
}

}  // namespace berth::compute
