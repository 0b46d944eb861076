#include "http/server.h"

#include "http/errors.h"
#include "spdlog/spdlog.h"

namespace berth::http {

using asio::ip::tcp;

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, Handler handler,
                       std::vector<asio::io_context*> connection_contexts)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      acceptor_(io),
      connection_contexts_(std::move(connection_contexts)) {
  if (connection_contexts_.empty()) connection_contexts_.push_back(&io_);
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start() {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return absl::InvalidArgumentError("--host: not an IP address: " + options_.host);
  tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError("cannot listen on " + options_.host + ":" +
                                  std::to_string(options_.port) + ": " + ec.message());
  }
  int port = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  return port;
}

void HttpServer::Stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

Awaitable<void> HttpServer::AcceptLoop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    // Each connection gets its own strand so its handlers never run concurrently, on the next
    // data-plane thread in turn.
    asio::io_context& context =
        *connection_contexts_[next_context_++ % connection_contexts_.size()];
    tcp::socket socket(asio::make_strand(context));
    co_await acceptor_.async_accept(socket, Await(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      spdlog::warn("accept failed: {}", ec.message());
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Serve(std::move(socket)), asio::detached);
  }
}

Response MakeResponse(const Request& req, bhttp::status status, std::string body,
                      std::string_view content_type) {
  Response res{status, req.version()};
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Awaitable<void> HttpServer::Serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  RequestContext context;
  {
    boost::system::error_code ec;
    auto remote = stream.socket().remote_endpoint(ec);
    if (!ec) context.peer = remote.address().to_string() + ":" + std::to_string(remote.port());
  }
  for (;;) {
    boost::system::error_code ec;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    stream.expires_after(options_.idle_timeout);
    co_await bhttp::async_read(stream, buffer, parser, Await(ec));
    if (ec == bhttp::error::body_limit) {
      Request head = parser.release();
      head.keep_alive(false);
      Response res = ErrorResponse(head, bhttp::status::payload_too_large, "PayloadTooLarge",
                                   "request body exceeds the limit of " +
                                       std::to_string(options_.max_body_bytes) +
                                       " bytes (--max-request-body)");
      res.keep_alive(false);
      stream.expires_after(std::chrono::seconds(10));
      co_await bhttp::async_write(stream, res, Await(ec));
      break;
    }
    if (ec) break;  // closed, timed out or malformed: nothing useful to answer
    Request req = parser.release();
    stream.expires_never();
    Response res;
    try {
      res = co_await handler_(req, context);
    } catch (const std::exception& e) {
      spdlog::error("handler failed for {}: {}", std::string(req.target()), e.what());
      res = ErrorResponse(req, bhttp::status::internal_server_error, "InternalError",
                          "internal error");
    }
    bool keep_alive = res.keep_alive() && req.keep_alive();
    res.keep_alive(keep_alive);
    stream.expires_after(std::chrono::seconds(60));
    co_await bhttp::async_write(stream, res, Await(ec));
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace berth::http
