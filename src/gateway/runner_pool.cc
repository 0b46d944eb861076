#include "gateway/runner_pool.h"

#include <array>

#include "gateway/runner_frames.h"
#include "http/origin.h"
#include "http/upstream_pool.h"

namespace berth::gateway::runner {

namespace asio = http::asio;
namespace beast = http::beast;
using http::Await;

namespace {

// Room for a response's status and headers on top of the body limit.
constexpr uint64_t kMaxResponseHeadBytes = 1u << 20;
// The first read of an answer; larger answers take a second read for the rest.
constexpr size_t kFirstReadBytes = 16 * 1024;

bool ClosedBeforeAnswering(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

void Close(http::Stream& stream) {
  boost::system::error_code ignored;
  stream.socket().close(ignored);
}

}  // namespace

RunnerPool::RunnerPool(asio::any_io_executor executor, std::string socket_path,
                       RunnerPoolOptions options)
    : executor_(std::move(executor)), socket_path_(std::move(socket_path)), options_(options) {}

RunnerPool::~RunnerPool() { CloseIdle(); }

void RunnerPool::CloseIdle() {
  for (auto& stream : idle_) Close(*stream);
  idle_.clear();
}

http::Awaitable<absl::StatusOr<http::Response>> RunnerPool::Send(std::string_view prefix,
                                                                 std::string_view body,
                                                                 SteadyTime deadline) {
  const std::string where = "runner worker " + socket_path_;
  // A pooled connection may have been closed by the worker while idle (either side may close
  // between exchanges): on a Unix socket the write then fails at once, and the request, which
  // nobody read, is sent again on a fresh connection. A connection that closes after the
  // request was written is not retried: the worker may have died running it (a crash, or the
  // runner's watchdog), and running it again could do the same to another worker.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<http::Stream> stream;
    bool reused = false;
    if (!idle_.empty() && attempt == 0) {
      stream = std::move(idle_.back());
      idle_.pop_back();
      reused = true;
    } else {
      http::Origin origin = http::Origin::Unix(socket_path_);
      auto connected = co_await http::Connect(executor_, origin, deadline);
      if (!connected.ok()) co_return connected.status();
      stream = std::move(connected).value();
    }
    boost::system::error_code ec;
    stream->expires_at(deadline);
    std::array<asio::const_buffer, 2> request = {asio::buffer(prefix.data(), prefix.size()),
                                                 asio::buffer(body.data(), body.size())};
    co_await asio::async_write(*stream, request, Await(ec));
    if (ec == beast::error::timeout) {
      co_return absl::DeadlineExceededError("the " + where + " did not take the request in time");
    }
    if (ec) {
      if (reused) continue;
      co_return absl::UnavailableError("cannot send to the " + where + ": " + ec.message());
    }

    // Small answers (the usual case) arrive whole, so the first read asks for up to
    // kFirstReadBytes and most exchanges take one read (and one timer) instead of two.
    std::string payload(kFirstReadBytes, '\0');
    size_t got = 0;
    while (!ec && got < kLengthPrefixBytes) {
      got += co_await stream->async_read_some(
          asio::buffer(payload.data() + got, payload.size() - got), Await(ec));
    }
    if (ec == beast::error::timeout) {
      co_return absl::DeadlineExceededError("the " + where + " did not answer in time");
    }
    if (ec) {
      if (got == 0 && ClosedBeforeAnswering(ec)) {
        co_return http::NoAnswerError("the " + where + " closed the connection without answering");
      }
      co_return absl::AbortedError("the " + where + " failed during the request: " + ec.message());
    }
    const uint32_t length = ReadLengthPrefix(payload.data());
    if (length > kMaxPayloadBytes) {
      Close(*stream);
      co_return absl::AbortedError("protocol error from the " + where + ": payload length " +
                                   std::to_string(length) + " exceeds 2^31-1");
    }
    if (length > options_.max_response_body_bytes + kMaxResponseHeadBytes) {
      // The answer is not read, so the connection cannot be used again.
      Close(*stream);
      co_return absl::ResourceExhaustedError(
          "the instance's response is too large: its body exceeds the limit of " +
          std::to_string(options_.max_response_body_bytes) + " bytes (--max-response-body)");
    }
    const size_t total = kLengthPrefixBytes + static_cast<size_t>(length);
    if (got > total) {
      // One request, one answer: bytes after the answer break the exchange (no pipelining).
      Close(*stream);
      co_return absl::AbortedError("protocol error from the " + where +
                                   ": bytes after the end of the answer");
    }
    payload.resize(total);
    if (got < total) {
      co_await asio::async_read(*stream, asio::buffer(payload.data() + got, total - got),
                                Await(ec));
      if (ec == beast::error::timeout) {
        co_return absl::DeadlineExceededError("the " + where + " did not answer in time");
      }
      if (ec) {
        co_return absl::AbortedError("the " + where + " failed during the answer: " + ec.message());
      }
    }
    payload.erase(0, kLengthPrefixBytes);
    auto response = DecodeResponse(std::move(payload));
    if (!response.ok()) {
      Close(*stream);
      co_return absl::AbortedError("protocol error from the " + where + ": " +
                                   std::string(response.status().message()));
    }
    if (response->body().size() > options_.max_response_body_bytes) {
      co_return absl::ResourceExhaustedError(
          "the instance's response is too large: its body exceeds the limit of " +
          std::to_string(options_.max_response_body_bytes) + " bytes (--max-response-body)");
    }
    if (idle_.size() < options_.max_idle) {
      stream->expires_never();
      idle_.push_back(std::move(stream));
    }
    co_return std::move(response).value();
  }
  co_return absl::UnavailableError("the " + where + " closed the connection");
}

std::shared_ptr<RunnerLoad::Workers> RunnerLoad::For(const std::string& key, uint64_t incarnation,
                                                     size_t workers) {
  absl::MutexLock lock(&mu_);
  std::weak_ptr<Workers>& slot = workers_[{key, incarnation}];
  std::shared_ptr<Workers> counters = slot.lock();
  if (!counters || counters->in_flight.size() != workers) {
    counters = std::make_shared<Workers>(workers);
    slot = counters;
    // Instances that every thread released leave expired entries: drop them now and then.
    std::erase_if(workers_, [](const auto& entry) { return entry.second.expired(); });
  }
  return counters;
}

http::Awaitable<absl::StatusOr<int>> ProbeRunner(asio::any_io_executor executor,
                                                 std::string socket_path, std::string path,
                                                 std::chrono::milliseconds timeout) {
  RunnerPool pool(std::move(executor), std::move(socket_path), {.max_idle = 0});
  http::RequestHead head;
  head.method(http::bhttp::verb::get);
  head.target(path);
  auto prefix = EncodeRequestPrefix(head, 0, {});
  if (!prefix.ok()) co_return prefix.status();
  auto answer = co_await pool.Send(*prefix, "", std::chrono::steady_clock::now() + timeout);
  if (!answer.ok()) co_return answer.status();
  co_return static_cast<int>(answer->result_int());
}

}  // namespace berth::gateway::runner
