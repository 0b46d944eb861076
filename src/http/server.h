#pragma once
// HttpServer: an HTTP/1.1 keep-alive server on Asio coroutines. Each connection runs on its own
// strand; handlers are coroutines and may suspend (proxying, admission queues).
//
// Lifecycle: construct, Start() (binds, returns the port), Stop() (closes the listener and
// open connections). Thread-safety: Start/Stop from one thread; Handle() is called concurrently.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "http/asio.h"

namespace berth::http {

// What a handler sees besides the request.
struct RequestContext {
  std::string peer;  // "ip:port"
};

// Answers one request. Exceptions must not escape (the server answers 500 if they do).
using Handler = std::function<Awaitable<Response>(Request&, const RequestContext&)>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                         // 0 picks a free port
  uint64_t max_body_bytes = 100ull << 20;  // larger bodies get 413
  std::chrono::seconds idle_timeout{75};   // keep-alive idle limit
};

class HttpServer {
 public:
  // Connections are accepted on `io` and served on `connection_contexts` in turn (each
  // connection stays on one of them); empty means on `io`.
  HttpServer(asio::io_context& io, ServerOptions options, Handler handler,
             std::vector<asio::io_context*> connection_contexts = {});
  ~HttpServer();

  // Binds and starts accepting. Returns the bound port.
  absl::StatusOr<int> Start();
  void Stop();

 private:
  Awaitable<void> AcceptLoop();
  Awaitable<void> Serve(asio::ip::tcp::socket socket);

  asio::io_context& io_;
  ServerOptions options_;
  Handler handler_;
  asio::ip::tcp::acceptor acceptor_;
  std::vector<asio::io_context*> connection_contexts_;
  size_t next_context_ = 0;  // touched by the accept loop only
};

// A response with a JSON or text body, `Content-Length` set, keep-alive as the request asked.
Response MakeResponse(const Request& req, bhttp::status status, std::string body,
                      std::string_view content_type);

}  // namespace berth::http
