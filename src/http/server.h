#pragma once
// HttpServer: an HTTP/1.1 keep-alive server on Asio coroutines. Each connection runs on its own
// strand; handlers are coroutines and may suspend (proxying, admission queues).
//
// Each request is read in two steps: the header first, which is checked (framing per RFC 9112,
// the size limits, ServerOptions::on_headers), then the body. A request refused at the header
// stage is answered with `Connection: close` and its body is never stored. Malformed requests
// get 400 (431 for an oversized header, 501 for a transfer coding other than chunked) in berth's
// error shape; connections over ServerOptions::max_connections get 503.
//
// It listens on TCP (host:port) or on a Unix socket (ServerOptions::unix_socket); connections are
// handled the same way on both.
//
// Lifecycle: construct, Start() (binds, returns the port); to shut down gracefully Drain()
// (stops accepting, lets requests in flight finish), then Stop() (closes the listener and every
// open connection). Threading: Start, StopAccepting, Drain and Stop are called from the thread
// that runs the accepting io_context (berthd posts them there); Handle() and on_headers are
// called concurrently from connection strands, which may be on other io_contexts.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "http/asio.h"

namespace berth::http {

// What a handler sees besides the request.
struct RequestContext {
  std::string peer;            // "ip:port"; "unix" on a Unix socket
  std::string remote_address;  // "127.0.0.1", "::1"; "" on a Unix socket
  uint16_t remote_port = 0;    // 0 on a Unix socket
  // The request came through a listener marked ServerOptions::private_listener. What that
  // allows is the handler's business (berthd: endpoints closed to public network access).
  bool private_listener = false;
};

// Answers one request. Exceptions must not escape (the server answers 500 if they do).
using Handler = std::function<Awaitable<Response>(Request&, const RequestContext&)>;

// Looks at a request's header before any body byte is read. A response refuses the request: it
// is sent with `Connection: close` and the body is discarded unread. std::nullopt lets the
// request through. Runs on the connection's strand, so it must not block (no I/O, no locks held
// for long); it must not throw.
using HeaderCheck =
    std::function<std::optional<Response>(const Request& head, const RequestContext& context)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 picks a free port
  // Non-empty: listen on this Unix socket path instead of host:port. Start() removes a stale
  // socket file left there (refusing a path that is another kind of file or that a live server
  // answers on), creates the socket with mode 0600 before it accepts anything, and the file is
  // removed when the listener closes (StopAccepting, Drain, Stop).
  std::string unix_socket;
  // Marks every request this server accepts as RequestContext::private_listener.
  bool private_listener = false;
  uint64_t max_body_bytes = 100ull << 20;  // larger bodies get 413
  uint32_t max_header_bytes = 16u << 10;   // request line and header fields; larger get 431
  std::chrono::seconds idle_timeout{75};   // keep-alive idle limit
  // Open client connections at most; one more is answered 503 (`Retry-After: 1`) and closed.
  // 0: no limit.
  size_t max_connections = 0;
  // Optional; see HeaderCheck. Runs after the framing checks and before the 413 check.
  HeaderCheck on_headers;
};

class HttpServer {
 public:
  // Connections are accepted on `io` and served on `connection_contexts` in turn (each
  // connection stays on one of them); empty means on `io`.
  HttpServer(asio::io_context& io, ServerOptions options, Handler handler,
             std::vector<asio::io_context*> connection_contexts = {});
  ~HttpServer();

  // Binds and starts accepting. Returns the bound port (0 on a Unix socket). UNAVAILABLE when
  // the address cannot be bound; INVALID_ARGUMENT for a bad host or socket path.
  absl::StatusOr<int> Start();

  // Closes the listener (new connections are refused by the kernel) and closes idle keep-alive
  // connections; requests in flight go on and are answered with `Connection: close`.
  void StopAccepting();

  // StopAccepting(), then calls `done` (posted to the io_context, exactly once) when no request
  // is in flight any more, or at `deadline`, whichever comes first. `done` is called even when
  // nothing is in flight.
  void Drain(SteadyTime deadline, std::function<void()> done);

  // Closes the listener and every open connection; requests in flight are cut off.
  void Stop();

  // Client connections open now (refused ones not counted).
  size_t open_connections() const;

 private:
  struct Connection;

  Awaitable<void> AcceptLoop();
  Awaitable<void> Serve(std::shared_ptr<Connection> connection);
  enum class After { kNextRequest, kClose, kDiscardInputAndClose };
  // Checks a request whose header is read, reads its body and answers it. Returns what becomes
  // of the connection.
  Awaitable<After> Answer(Stream& stream, beast::flat_buffer& buffer,
                          bhttp::request_parser<bhttp::string_body>& parser,
                          const RequestContext& context);
  Awaitable<void> RefuseOverCapacity(StreamProtocol::socket socket);
  absl::Status BindUnixSocket();
  void RemoveUnixSocket();
  // Waits after an accept error that a retry cannot fix at once (no file descriptors or memory
  // left), so the loop does not spin; logs at most once per interval.
  Awaitable<void> BackOffAfterAcceptError(const boost::system::error_code& ec);
  void BeginRequest(Connection& connection);
  void EndRequest(Connection& connection);
  void FinishDrain();
  // Closes the listener and runs `on_each` on every open connection, on its strand.
  void CloseListenerAndPost(std::function<void(Connection&)> on_each);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  asio::basic_socket_acceptor<StreamProtocol> acceptor_;
  // The socket file this server created (device, inode), removed with the listener.
  std::optional<std::pair<uint64_t, uint64_t>> unix_socket_id_;
  std::vector<asio::io_context*> connection_contexts_;
  size_t next_context_ = 0;  // touched by the accept loop only
  asio::steady_timer accept_backoff_;
  std::chrono::milliseconds backoff_delay_{0};
  SteadyTime accept_error_logged_at_{};
  int accept_errors_unlogged_ = 0;
  std::atomic<int> refusing_{0};  // connections being answered 503
  std::atomic<bool> draining_{false};

  mutable std::mutex mu_;
  std::unordered_set<std::shared_ptr<Connection>> connections_;  // guarded by mu_
  int in_flight_ = 0;                                            // guarded by mu_
  std::function<void()> drain_done_;                             // guarded by mu_
  asio::steady_timer drain_timer_;                               // on its own strand
};

// A response with a JSON or text body, `Content-Length` set, keep-alive as the request asked.
Response MakeResponse(const Request& req, bhttp::status status, std::string body,
                      std::string_view content_type);

}  // namespace berth::http
