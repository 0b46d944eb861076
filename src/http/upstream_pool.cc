#include "http/upstream_pool.h"

#include "absl/strings/cord.h"

namespace berth::http {

UpstreamPool::UpstreamPool(asio::any_io_executor executor, Origin origin,
                           UpstreamPoolOptions options)
    : executor_(std::move(executor)), origin_(std::move(origin)), options_(options) {}

UpstreamPool::~UpstreamPool() { CloseIdle(); }

void UpstreamPool::CloseIdle() {
  for (auto& stream : idle_) {
    boost::system::error_code ec;
    stream->socket().close(ec);
  }
  idle_.clear();
}

Awaitable<absl::StatusOr<Response>> UpstreamPool::Send(Request req, SteadyTime deadline) {
  req.keep_alive(true);
  req.prepare_payload();
  co_return co_await SendMessage(req, deadline);
}

Awaitable<absl::StatusOr<Response>> UpstreamPool::Send(RequestHead head,
                                                       std::shared_ptr<const std::string> body,
                                                       SteadyTime deadline) {
  // span_body only reads the bytes it points at.
  bhttp::request<bhttp::span_body<char>> req{std::move(head)};
  req.body() = {const_cast<char*>(body->data()), body->size()};
  req.keep_alive(true);
  req.prepare_payload();
  co_return co_await SendMessage(req, deadline);
}

namespace {
constexpr char kNoAnswerPayload[] = "type.berth/no-answer";
}  // namespace

absl::Status NoAnswerError(std::string message) {
  absl::Status status = absl::AbortedError(std::move(message));
  status.SetPayload(kNoAnswerPayload, absl::Cord("1"));
  return status;
}

bool IsNoAnswer(const absl::Status& status) {
  return absl::IsAborted(status) && status.GetPayload(kNoAnswerPayload).has_value();
}

template <typename Message>
Awaitable<absl::StatusOr<Response>> UpstreamPool::SendMessage(Message& req, SteadyTime deadline) {
  // A pooled connection may have been closed by the instance while idle; such a failure before
  // any response byte is retried once on a fresh connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Stream> stream;
    bool reused = false;
    if (!idle_.empty() && attempt == 0) {
      stream = std::move(idle_.back());
      idle_.pop_back();
      reused = true;
    } else {
      auto connected = co_await Connect(executor_, origin_, deadline);
      if (!connected.ok()) co_return connected.status();
      stream = std::move(connected).value();
    }
    boost::system::error_code ec;
    stream->expires_at(deadline);
    co_await bhttp::async_write(*stream, req, Await(ec));
    if (ec == beast::error::timeout) {
      co_return absl::DeadlineExceededError("the instance did not accept the request in time");
    }
    if (ec) {
      if (reused) continue;
      co_return absl::UnavailableError("cannot send to the instance: " + ec.message());
    }
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options_.max_response_body_bytes);
    // The header first, so that an announced length over the limit is refused unread.
    co_await bhttp::async_read_header(*stream, buffer, parser, Await(ec));
    if (!ec && parser.content_length() &&
        *parser.content_length() > options_.max_response_body_bytes) {
      ec = bhttp::error::body_limit;
    }
    if (!ec) co_await bhttp::async_read(*stream, buffer, parser, Await(ec));
    if (ec == bhttp::error::body_limit) {
      // The rest of the answer is never read, so the connection cannot be reused.
      stream->socket().close(ec);
      co_return absl::ResourceExhaustedError(
          "the instance's response is too large: its body exceeds the limit of " +
          std::to_string(options_.max_response_body_bytes) + " bytes (--max-response-body)");
    }
    if (ec == beast::error::timeout) {
      co_return absl::DeadlineExceededError("the instance did not answer in time");
    }
    if (ec) {
      bool nothing_read = !parser.got_some();
      if (reused && nothing_read &&
          (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::eof || ec == asio::error::broken_pipe)) {
        continue;
      }
      if (nothing_read) {
        co_return NoAnswerError("the instance closed the connection without answering: " +
                                ec.message());
      }
      co_return absl::AbortedError("the instance failed during the request: " + ec.message());
    }
    Response res = parser.release();
    if (res.keep_alive() && idle_.size() < options_.max_idle) {
      stream->expires_never();
      idle_.push_back(std::move(stream));
    } else {
      stream->socket().shutdown(StreamProtocol::socket::shutdown_both, ec);
    }
    co_return res;
  }
  co_return absl::UnavailableError("the instance closed the connection");
}

Awaitable<absl::StatusOr<int>> ProbeGet(asio::any_io_executor executor, Origin origin,
                                        std::string path, std::chrono::milliseconds timeout) {
  std::string host = origin.is_unix() ? origin.HostHeader() : origin.host;
  UpstreamPool pool(std::move(executor), std::move(origin), {.max_idle = 0});
  Request req{bhttp::verb::get, path, 11};
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "berth-probe");
  req.keep_alive(false);
  auto res = co_await pool.Send(std::move(req), std::chrono::steady_clock::now() + timeout);
  if (!res.ok()) co_return res.status();
  co_return static_cast<int>(res->result_int());
}

}  // namespace berth::http
