#include "http/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "http/errors.h"
#include "http/origin.h"
#include "spdlog/spdlog.h"

namespace berth::http {

using asio::ip::tcp;

// A connection and whether it has a request in flight. `busy` is touched on the connection's
// strand only.
struct HttpServer::Connection {
  explicit Connection(StreamProtocol::socket socket) : stream(std::move(socket)) {}
  Stream stream;
  bool busy = false;
};

namespace {

constexpr std::chrono::milliseconds kFirstAcceptBackoff{10};
constexpr std::chrono::milliseconds kLongestAcceptBackoff{1000};
constexpr std::chrono::seconds kAcceptErrorLogInterval{10};
constexpr std::chrono::seconds kWriteTimeout{60};
// How long a refused connection's unread input is discarded before it is closed (see
// DiscardInputAndClose): in all, and without any byte arriving.
constexpr std::chrono::seconds kLingerAfterRefusal{30};
constexpr std::chrono::seconds kLingerAfterOverCapacity{2};
constexpr std::chrono::seconds kLingerIdle{2};
// Over-capacity connections being answered at once; more are closed without an answer.
constexpr int kMaxConcurrentRefusals = 64;

bool IsParseError(const boost::system::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

// The answer to a request whose header cannot be used, in berth's error shape.
Response Refusal(bhttp::status status, std::string_view code, std::string_view message) {
  Request head{bhttp::verb::get, "/", 11};
  Response res = ErrorResponse(head, status, code, message);
  res.keep_alive(false);
  return res;
}

Response BadRequest(std::string_view message) {
  return Refusal(bhttp::status::bad_request, "BadRequest", message);
}

// The answer for a header that could not be parsed, or std::nullopt where there is nobody to
// answer (the client closed or went quiet).
std::optional<Response> AnswerForUnreadableHeader(const boost::system::error_code& ec,
                                                  uint32_t max_header_bytes) {
  if (ec == bhttp::error::header_limit) {
    return Refusal(
        bhttp::status::request_header_fields_too_large, "RequestHeaderFieldsTooLarge",
        "the request line and header fields exceed " + std::to_string(max_header_bytes) + " bytes");
  }
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
      ec == bhttp::error::need_more || !IsParseError(ec)) {
    return std::nullopt;
  }
  return BadRequest("malformed HTTP request: " + ec.message());
}

// RFC 9112 section 6 for a header Beast accepted. Beast already refuses Content-Length together
// with `chunked` and a repeated `chunked`, but it takes any other Transfer-Encoding as "no body",
// which would read the body as the next request.
std::optional<Response> FramingError(const Request& head) {
  std::vector<std::string> codings;
  auto fields = head.equal_range(bhttp::field::transfer_encoding);
  if (fields.first == fields.second) return std::nullopt;
  for (auto it = fields.first; it != fields.second; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      size_t comma = std::min(rest.find(','), rest.size());
      std::string_view item = rest.substr(0, comma);
      rest.remove_prefix(std::min(comma + 1, rest.size()));
      // A coding's parameters (`;q=...`) do not change what it is.
      std::string name(item.substr(0, item.find(';')));
      absl::StripAsciiWhitespace(&name);
      if (!name.empty()) codings.push_back(absl::AsciiStrToLower(name));
    }
  }
  if (head.version() < 11) {
    return BadRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request");
  }
  if (head.find(bhttp::field::content_length) != head.end()) {
    return BadRequest("a request must not carry both Content-Length and Transfer-Encoding");
  }
  if (codings.empty() || codings.back() != "chunked") {
    return BadRequest("the final transfer coding of a request must be chunked");
  }
  if (std::count(codings.begin(), codings.end(), "chunked") > 1) {
    return BadRequest("chunked is applied more than once");
  }
  if (codings.size() > 1) {
    // berth decodes no transfer coding but chunked (RFC 9112 section 6.1: 501).
    return Refusal(bhttp::status::not_implemented, "Unsupported",
                   "transfer coding '" + codings.front() + "' is not supported; use only chunked");
  }
  return std::nullopt;
}

bool WantsContinue(const Request& head) {
  auto it = head.find(bhttp::field::expect);
  return head.version() >= 11 && it != head.end() && beast::iequals(it->value(), "100-continue");
}

// After a refusal: reads and drops what the peer still sends, until it closes, goes quiet or
// `linger` passes, then closes. Closing a socket with unread input sends a reset, which can
// destroy the answer before the peer reads it (a client sending a refused body reads the answer
// only once it has sent the body). Nothing is kept, so memory stays flat.
Awaitable<void> DiscardInputAndClose(Stream& stream, std::chrono::seconds linger) {
  boost::system::error_code ec;
  stream.socket().shutdown(asio::socket_base::shutdown_send, ec);
  SteadyTime give_up = std::chrono::steady_clock::now() + linger;
  std::array<char, 16 << 10> sink;
  while (!ec && std::chrono::steady_clock::now() < give_up) {
    stream.expires_after(kLingerIdle);
    co_await stream.async_read_some(asio::buffer(sink), Await(ec));
  }
  stream.socket().close(ec);
}

// Answers `res` with `Connection: close`. Returns whether it was written.
Awaitable<bool> SendRefusal(Stream& stream, Response res) {
  res.keep_alive(false);
  boost::system::error_code ec;
  stream.expires_after(kWriteTimeout);
  co_await bhttp::async_write(stream, res, Await(ec));
  co_return !ec;
}

// Accept errors that concern one connection only; others (no descriptors, no memory) persist
// until something is released, so the accept loop waits before trying again.
bool IsPerConnectionError(const boost::system::error_code& ec) {
  return ec == asio::error::connection_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::interrupted || ec == asio::error::try_again;
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, Handler handler,
                       std::vector<asio::io_context*> connection_contexts)
    : io_(io),
      options_(std::move(options)),
      handler_(std::move(handler)),
      acceptor_(io),
      connection_contexts_(std::move(connection_contexts)),
      accept_backoff_(io),
      drain_timer_(asio::make_strand(io)) {
  if (connection_contexts_.empty()) connection_contexts_.push_back(&io_);
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start() {
  int port = 0;
  if (!options_.unix_socket.empty()) {
    if (absl::Status bound = BindUnixSocket(); !bound.ok()) return bound;
  } else {
    auto endpoint = EndpointOf(Origin::Tcp(options_.host, options_.port));
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError("--host: not an IP address: " + options_.host);
    }
    boost::system::error_code ec;
    acceptor_.open(endpoint->protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(*endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.close(ec);
      return absl::UnavailableError("cannot listen on " + options_.host + ":" +
                                    std::to_string(options_.port) + ": " + ec.message());
    }
    port = PeerOf(acceptor_.local_endpoint()).port;
  }
  asio::co_spawn(io_, AcceptLoop(), asio::detached);
  return port;
}

absl::Status HttpServer::BindUnixSocket() {
  const std::string& path = options_.unix_socket;
  auto endpoint = EndpointOf(Origin::Unix(path));
  if (!endpoint.ok()) return endpoint.status();
  if (absl::Status cleared = ClaimUnixSocketPath(path); !cleared.ok()) return cleared;
  boost::system::error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  std::string failed_step = "bind";
  if (!ec) {
    // The mode is set before listen(): until then every connect is refused, so nobody gets in
    // through the umask's wider mode.
    struct stat st;
    if (::chmod(path.c_str(), 0600) != 0 || ::stat(path.c_str(), &st) != 0) {
      ec.assign(errno, boost::system::system_category());
      failed_step = "chmod";
    } else {
      unix_socket_id_.emplace(st.st_dev, st.st_ino);
    }
  }
  if (!ec) {
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    failed_step = "listen";
  }
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    RemoveUnixSocket();
    return absl::UnavailableError("cannot listen on " + path + " (" + failed_step +
                                  "): " + ec.message());
  }
  return absl::OkStatus();
}

void HttpServer::RemoveUnixSocket() {
  if (!unix_socket_id_) return;
  // Only the file this server made: another server may have taken the path since.
  struct stat st;
  if (::lstat(options_.unix_socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      std::pair<uint64_t, uint64_t>(st.st_dev, st.st_ino) == *unix_socket_id_) {
    ::unlink(options_.unix_socket.c_str());
  }
  unix_socket_id_.reset();
}

void HttpServer::CloseListenerAndPost(std::function<void(Connection&)> on_each) {
  draining_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  RemoveUnixSocket();
  accept_backoff_.cancel();
  std::lock_guard lock(mu_);
  for (const auto& connection : connections_) {
    asio::post(connection->stream.get_executor(), [connection, on_each] { on_each(*connection); });
  }
}

void HttpServer::StopAccepting() {
  // A connection waiting for its next request has nothing to finish, unless that request has
  // already arrived: bytes waiting on the socket are read and answered (with Connection: close)
  // rather than dropped.
  CloseListenerAndPost([](Connection& connection) {
    if (connection.busy) return;
    boost::system::error_code ec;
    if (connection.stream.socket().available(ec) > 0 && !ec) return;
    connection.stream.cancel();
  });
}

void HttpServer::Drain(SteadyTime deadline, std::function<void()> done) {
  StopAccepting();
  asio::dispatch(drain_timer_.get_executor(), [this, deadline] {
    drain_timer_.expires_at(deadline);
    drain_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) FinishDrain();
    });
  });
  bool idle;
  {
    std::lock_guard lock(mu_);
    drain_done_ = std::move(done);
    idle = in_flight_ == 0;
  }
  if (idle) FinishDrain();
}

void HttpServer::FinishDrain() {
  std::function<void()> done;
  {
    std::lock_guard lock(mu_);
    done.swap(drain_done_);
  }
  if (!done) return;
  asio::post(drain_timer_.get_executor(), [this] { drain_timer_.cancel(); });
  asio::post(io_, std::move(done));
}

void HttpServer::Stop() {
  CloseListenerAndPost([](Connection& connection) {
    boost::system::error_code ignored;
    connection.stream.socket().shutdown(asio::socket_base::shutdown_both, ignored);
    connection.stream.cancel();
  });
}

size_t HttpServer::open_connections() const {
  std::lock_guard lock(mu_);
  return connections_.size();
}

void HttpServer::BeginRequest(Connection& connection) {
  connection.busy = true;
  std::lock_guard lock(mu_);
  ++in_flight_;
}

void HttpServer::EndRequest(Connection& connection) {
  connection.busy = false;
  bool drained;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    drained = in_flight_ == 0 && drain_done_;
  }
  if (drained) FinishDrain();
}

Awaitable<void> HttpServer::BackOffAfterAcceptError(const boost::system::error_code& ec) {
  SteadyTime now = std::chrono::steady_clock::now();
  if (now - accept_error_logged_at_ >= kAcceptErrorLogInterval) {
    if (accept_errors_unlogged_ > 0) {
      spdlog::warn("accept failed: {} ({} more failures since the last warning)", ec.message(),
                   accept_errors_unlogged_);
    } else {
      spdlog::warn("accept failed: {}", ec.message());
    }
    accept_error_logged_at_ = now;
    accept_errors_unlogged_ = 0;
  } else {
    ++accept_errors_unlogged_;
  }
  if (IsPerConnectionError(ec)) co_return;
  backoff_delay_ = backoff_delay_.count() == 0
                       ? kFirstAcceptBackoff
                       : std::min(backoff_delay_ * 2, kLongestAcceptBackoff);
  accept_backoff_.expires_after(backoff_delay_);
  boost::system::error_code ignored;
  co_await accept_backoff_.async_wait(Await(ignored));
}

Awaitable<void> HttpServer::AcceptLoop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    // Each connection gets its own strand so its handlers never run concurrently, on the next
    // data-plane thread in turn.
    asio::io_context& context =
        *connection_contexts_[next_context_++ % connection_contexts_.size()];
    StreamProtocol::socket socket(asio::make_strand(context));
    co_await acceptor_.async_accept(socket, Await(ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      co_await BackOffAfterAcceptError(ec);
      continue;
    }
    backoff_delay_ = std::chrono::milliseconds(0);
    if (options_.unix_socket.empty()) socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    if (options_.max_connections > 0 && open_connections() >= options_.max_connections) {
      asio::co_spawn(executor, RefuseOverCapacity(std::move(socket)), asio::detached);
      continue;
    }
    auto connection = std::make_shared<Connection>(std::move(socket));
    {
      std::lock_guard lock(mu_);
      connections_.insert(connection);
    }
    asio::co_spawn(executor, Serve(std::move(connection)), asio::detached);
  }
}

Awaitable<void> HttpServer::RefuseOverCapacity(StreamProtocol::socket socket) {
  if (refusing_.fetch_add(1) >= kMaxConcurrentRefusals) {
    --refusing_;
    boost::system::error_code ignored;
    socket.close(ignored);
    co_return;
  }
  Stream stream(std::move(socket));
  Response res =
      Refusal(bhttp::status::service_unavailable, "ServiceUnavailable",
              "too many open connections (limit " + std::to_string(options_.max_connections) +
                  ", --max-connections); retry later");
  res.set(bhttp::field::retry_after, "1");
  if (co_await SendRefusal(stream, std::move(res))) {
    co_await DiscardInputAndClose(stream, kLingerAfterOverCapacity);
  }
  --refusing_;
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

Awaitable<HttpServer::After> HttpServer::Answer(Stream& stream, beast::flat_buffer& buffer,
                                                bhttp::request_parser<bhttp::string_body>& parser,
                                                const RequestContext& context) {
  boost::system::error_code ec;
  const Request& head = parser.get();
  std::optional<Response> refusal = FramingError(head);
  if (!refusal && options_.on_headers) refusal = options_.on_headers(head, context);
  if (!refusal && parser.content_length() && *parser.content_length() > options_.max_body_bytes) {
    refusal =
        ErrorResponse(head, bhttp::status::payload_too_large, "PayloadTooLarge",
                      "request body of " + std::to_string(*parser.content_length()) +
                          " bytes exceeds the limit of " + std::to_string(options_.max_body_bytes) +
                          " bytes (--max-request-body)");
  }
  if (refusal) {
    co_return co_await SendRefusal(stream, std::move(*refusal)) ? After::kDiscardInputAndClose
                                                                : After::kClose;
  }
  if (!parser.is_done() && WantsContinue(head)) {
    bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
    stream.expires_after(kWriteTimeout);
    co_await bhttp::async_write(stream, go_on, Await(ec));
    if (ec) co_return After::kClose;
  }
  parser.body_limit(options_.max_body_bytes);
  stream.expires_after(options_.idle_timeout);
  co_await bhttp::async_read(stream, buffer, parser, Await(ec));
  if (ec == bhttp::error::body_limit) {
    refusal =
        ErrorResponse(parser.get(), bhttp::status::payload_too_large, "PayloadTooLarge",
                      "request body exceeds the limit of " +
                          std::to_string(options_.max_body_bytes) + " bytes (--max-request-body)");
  } else if (IsParseError(ec) && ec != bhttp::error::partial_message) {
    refusal = BadRequest("malformed request body: " + ec.message());
  }
  if (refusal) {
    co_return co_await SendRefusal(stream, std::move(*refusal)) ? After::kDiscardInputAndClose
                                                                : After::kClose;
  }
  if (ec) co_return After::kClose;
  Request req = parser.release();
  stream.expires_never();
  Response res;
  try {
    res = co_await handler_(req, context);
  } catch (const std::exception& e) {
    spdlog::error("handler failed for {}: {}", std::string(req.target()), e.what());
    res =
        ErrorResponse(req, bhttp::status::internal_server_error, "InternalError", "internal error");
  }
  bool keep_alive = res.keep_alive() && req.keep_alive() && !draining_;
  res.keep_alive(keep_alive);
  stream.expires_after(kWriteTimeout);
  co_await bhttp::async_write(stream, res, Await(ec));
  co_return !ec && keep_alive ? After::kNextRequest : After::kClose;
}

Awaitable<void> HttpServer::Serve(std::shared_ptr<Connection> connection) {
  Stream& stream = connection->stream;
  beast::flat_buffer buffer;
  RequestContext context;
  context.private_listener = options_.private_listener;
  if (!options_.unix_socket.empty()) {
    context.peer = "unix";
  } else {
    boost::system::error_code ec;
    auto remote = stream.socket().remote_endpoint(ec);
    if (!ec) {
      PeerAddress peer = PeerOf(remote);
      context.peer = peer.address + ":" + std::to_string(peer.port);
      context.remote_address = std::move(peer.address);
      context.remote_port = peer.port;
    }
  }
  while (!draining_) {
    boost::system::error_code ec;
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(options_.max_header_bytes);
    // The body limit is applied once the header has been checked. Not boost::none: Beast 1.74
    // compares a length against an empty optional as "over".
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    stream.expires_after(options_.idle_timeout);
    co_await bhttp::async_read_header(stream, buffer, parser, Await(ec));
    if (ec) {
      auto answer = AnswerForUnreadableHeader(ec, options_.max_header_bytes);
      if (answer && co_await SendRefusal(stream, std::move(*answer))) {
        co_await DiscardInputAndClose(stream, kLingerAfterRefusal);
      }
      break;
    }
    // In flight (for Drain) from its header until its answer is written. Not a scope guard: a
    // frame destroyed with the io_context must not call into a destroyed server.
    BeginRequest(*connection);
    After after = co_await Answer(stream, buffer, parser, context);
    EndRequest(*connection);
    if (after == After::kDiscardInputAndClose) {
      co_await DiscardInputAndClose(stream, kLingerAfterRefusal);
    }
    if (after != After::kNextRequest) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
  std::lock_guard lock(mu_);
  connections_.erase(connection);
}

}  // namespace berth::http
