#include "http/origin.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::http {

using asio::ip::tcp;

Origin Origin::Tcp(std::string host, int port) {
  Origin origin;
  origin.host = std::move(host);
  origin.port = port;
  return origin;
}

Origin Origin::Unix(std::string path) {
  Origin origin;
  origin.host.clear();
  origin.unix_path = std::move(path);
  return origin;
}

std::string Origin::ToString() const {
  if (is_unix()) return "unix:" + unix_path;
  return HostHeader();
}

std::string Origin::HostHeader() const {
  if (is_unix()) return "localhost";
  std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port);
}

absl::StatusOr<StreamProtocol::endpoint> EndpointOf(const Origin& origin) {
  if (origin.is_unix()) {
    // Checked here: asio throws for a path that does not fit.
    if (origin.unix_path.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError("Unix socket path too long (" +
                                        std::to_string(origin.unix_path.size()) +
                                        " bytes, at most 107): " + origin.unix_path);
    }
    return StreamProtocol::endpoint(asio::local::stream_protocol::endpoint(origin.unix_path));
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(origin.host, ec);
  if (ec) return absl::InvalidArgumentError("not an IP address: " + origin.host);
  if (origin.port < 0 || origin.port > 65535) {
    return absl::InvalidArgumentError("not a port: " + std::to_string(origin.port));
  }
  return StreamProtocol::endpoint(tcp::endpoint(address, static_cast<uint16_t>(origin.port)));
}

Awaitable<absl::StatusOr<std::unique_ptr<Stream>>> Connect(asio::any_io_executor executor,
                                                           const Origin& origin,
                                                           SteadyTime deadline) {
  auto endpoint = EndpointOf(origin);
  if (!endpoint.ok()) {
    co_return absl::UnavailableError("cannot connect to " + origin.ToString() + ": " +
                                     std::string(endpoint.status().message()));
  }
  auto stream = std::make_unique<Stream>(std::move(executor));
  boost::system::error_code ec;
  stream->expires_at(deadline);
  co_await stream->async_connect(*endpoint, Await(ec));
  if (ec == beast::error::timeout) {
    co_return absl::DeadlineExceededError("timed out connecting to " + origin.ToString());
  }
  if (ec) {
    co_return absl::UnavailableError("cannot connect to " + origin.ToString() + ": " +
                                     ec.message());
  }
  if (!origin.is_unix()) stream->socket().set_option(tcp::no_delay(true), ec);
  stream->expires_never();
  co_return stream;
}

absl::Status ClaimUnixSocketPath(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError("Unix socket path too long (" + std::to_string(path.size()) +
                                      " bytes, at most 107): " + path);
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::UnavailableError("cannot use " + path + ": " + std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::UnavailableError("cannot listen on " + path + ": it exists and is not a socket");
  }
  // Non-blocking, so a live server with a full backlog answers EAGAIN instead of blocking.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::UnavailableError("cannot check " + path + ": " + std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  int error = errno;
  ::close(fd);
  if (connected == 0 || error == EAGAIN || error == EINPROGRESS) {
    return absl::UnavailableError("cannot listen on " + path + ": another server listens there");
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::UnavailableError("cannot remove the stale socket " + path + ": " +
                                  std::strerror(errno));
  }
  return absl::OkStatus();
}

PeerAddress PeerOf(const StreamProtocol::endpoint& endpoint) {
  int family = endpoint.protocol().family();
  if (family != AF_INET && family != AF_INET6) return {};
  tcp::endpoint ip;
  std::memcpy(ip.data(), endpoint.data(), endpoint.size());
  ip.resize(endpoint.size());
  return {ip.address().to_string(), ip.port()};
}

}  // namespace berth::http
