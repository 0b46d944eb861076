#pragma once
// Blocking loopback and Unix sockets with timeouts for the http tests: a client that writes exact
// bytes (malformed requests, headers without their body) and a one-connection fake origin. Every
// wait is bounded, so a server that never answers fails the test instead of hanging it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace berth::http::testing {

constexpr std::chrono::milliseconds kSocketWait{5000};

class RawSocket {
 public:
  explicit RawSocket(int fd = -1) : fd_(fd) {}
  RawSocket(RawSocket&& other) noexcept : fd_(other.fd_), pending_(std::move(other.pending_)) {
    other.fd_ = -1;
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  ~RawSocket() { Close(); }

  // Connects to 127.0.0.1:port; invalid() when refused.
  static RawSocket Connect(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return RawSocket();
    }
    return RawSocket(fd);
  }

  // Connects to the Unix socket at `path`; invalid() when refused or missing.
  static RawSocket ConnectUnix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = UnixAddress(path);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return RawSocket();
    }
    return RawSocket(fd);
  }

  static sockaddr_un UnixAddress(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
    return addr;
  }

  // A socket not connected yet: its descriptor exists before ConnectTo() (which needs none).
  static RawSocket Unconnected() {
    return RawSocket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  }
  bool ConnectTo(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One HTTP message (head and Content-Length body), or std::nullopt on EOF or timeout.
  std::optional<std::string> ReadMessage() {
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    head_end += 4;
    size_t length = ContentLength(std::string_view(pending_).substr(0, head_end));
    while (pending_.size() < head_end + length) {
      if (!Fill()) return std::nullopt;
    }
    std::string message = pending_.substr(0, head_end + length);
    pending_.erase(0, head_end + length);
    return message;
  }

  // Exactly `n` bytes, or std::nullopt on EOF or timeout.
  std::optional<std::string> ReadExactly(size_t n) {
    while (pending_.size() < n) {
      if (!Fill()) return std::nullopt;
    }
    std::string out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
  }

  // True when the peer closes (EOF or reset) within the wait; data that arrives is dropped.
  bool WaitForClose() {
    while (Fill()) pending_.clear();
    return closed_;
  }

 private:
  static size_t ContentLength(std::string_view head) {
    std::string lower = absl::AsciiStrToLower(std::string(head));
    size_t at = lower.find("\r\ncontent-length:");
    if (at == std::string::npos) return 0;
    at += 17;
    size_t end = lower.find("\r\n", at);
    size_t length = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(lower.substr(at, end - at)), &length)) {
      return 0;
    }
    return length;
  }

  // Reads what is there; false on EOF, error or kSocketWait without data.
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kSocketWait.count())) <= 0) return false;
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    pending_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string pending_;
  bool closed_ = false;
};

// A listening socket on 127.0.0.1 with an ephemeral port.
class RawListener {
 public:
  RawListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  // A listening Unix socket at `path` (replacing a file there).
  explicit RawListener(const std::string& path) : path_(path) {
    ::unlink(path.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr = RawSocket::UnixAddress(path);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
  }
  ~RawListener() {
    ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  int port() const { return port_; }

  // The next connection, or an invalid socket after kSocketWait.
  RawSocket Accept() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(kSocketWait.count())) <= 0) return RawSocket();
    return RawSocket(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  int fd_;
  int port_ = 0;
  std::string path_;
};

// A fresh folder for socket files under /tmp (a socket path must stay under 108 bytes, which a
// test's own temporary folder may not), removed with what is in it.
class TempSocketDir {
 public:
  TempSocketDir() {
    char templ[] = "/tmp/berth-sock-XXXXXX";
    path_ = ::mkdtemp(templ) ? templ : "";
  }
  ~TempSocketDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// "HTTP/1.1 401 Unauthorized\r\n..." -> 401; 0 when it is not a status line.
inline int StatusOf(std::string_view message) {
  int status = 0;
  if (message.size() < 12 || !absl::SimpleAtoi(std::string(message.substr(9, 3)), &status))
    return 0;
  return status;
}

}  // namespace berth::http::testing
