#pragma once
// Origin: where an upstream listens, TCP host:port or a Unix stream socket, and Connect(), the
// one way berth opens a client connection to either. Both kinds of connection are the same
// type (http::Stream over asio's generic stream protocol), so everything above the connect —
// HTTP keep-alive pools, runner frame pools, probes — has one code path for both.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "http/asio.h"

namespace berth::http {

struct Origin {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string unix_path;  // non-empty: this Unix socket; host and port are not used

  static Origin Tcp(std::string host, int port);
  static Origin Unix(std::string path);

  bool is_unix() const { return !unix_path.empty(); }
  // "127.0.0.1:8000", "[::1]:8000" or "unix:/path/x.sock": for messages.
  std::string ToString() const;
  // The Host header for a request to this origin: "host:port", or "localhost" for a Unix socket
  // (the name has no meaning there, but HTTP/1.1 requires one).
  std::string HostHeader() const;
  bool operator==(const Origin&) const = default;
};

// The socket address of `origin`; INVALID_ARGUMENT for a host that is not an IP address or a
// path longer than a Unix socket address holds (107 bytes).
absl::StatusOr<StreamProtocol::endpoint> EndpointOf(const Origin& origin);

// Connects to `origin` on `executor`. TCP connections get TCP_NODELAY. Errors:
// DEADLINE_EXCEEDED when `deadline` passes first, UNAVAILABLE when the connection is refused,
// the socket file is missing or the address is invalid.
Awaitable<absl::StatusOr<std::unique_ptr<Stream>>> Connect(asio::any_io_executor executor,
                                                           const Origin& origin,
                                                           SteadyTime deadline);

// Makes `path` free for a new listening Unix socket: a socket file nobody answers on (left by a
// server that died) is removed. UNAVAILABLE, touching nothing, when the path is another kind
// of file or a live server answers there; INVALID_ARGUMENT when it is too long. Blocks only on
// local file-system calls (a non-blocking connect tells live from stale).
absl::Status ClaimUnixSocketPath(const std::string& path);

// The address of a connected or accepted peer as text and port: "127.0.0.1" / "::1" and the
// port for TCP; "" and 0 for a Unix socket (there is no address to tell).
struct PeerAddress {
  std::string address;
  uint16_t port = 0;
};
PeerAddress PeerOf(const StreamProtocol::endpoint& endpoint);

}  // namespace berth::http
