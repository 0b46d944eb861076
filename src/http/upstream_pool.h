#pragma once
// UpstreamPool: keep-alive HTTP/1.1 connections to one origin (an instance on 127.0.0.1:port or
// on a Unix socket; see origin.h).
//
// Threading: a pool belongs to one io_context run by one thread (berthd's gateway worker);
// Send() may be awaited by many coroutines at once on that thread. Connections are created
// on demand and kept idle up to `max_idle`.
// Errors from Send():
//   DEADLINE_EXCEEDED  the answer did not come before the deadline; the connection is closed,
//                      which cancels the request on the instance
//   UNAVAILABLE        could not connect, or the instance closed before reading the request
//   ABORTED            the instance failed after the request was sent (reset, bad response)
//   RESOURCE_EXHAUSTED the response body is over `max_response_body_bytes`; nothing more is
//                      read and the connection is closed

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "http/asio.h"
#include "http/origin.h"

namespace berth::http {

// A failure after the request was (or may have been) sent, before any byte of an answer came
// back: the instance died or closed the connection. ABORTED, marked so that a caller may send
// the request again elsewhere where running it twice is acceptable.
absl::Status NoAnswerError(std::string message);
bool IsNoAnswer(const absl::Status& status);

struct UpstreamPoolOptions {
  size_t max_idle = 256;                            // idle keep-alive connections kept
  uint64_t max_response_body_bytes = 100ull << 20;  // larger answers fail (berthd's default)
};

class UpstreamPool {
 public:
  UpstreamPool(asio::any_io_executor executor, Origin origin, UpstreamPoolOptions options = {});
  ~UpstreamPool();

  Awaitable<absl::StatusOr<Response>> Send(Request req, SteadyTime deadline);
  // The same for a request whose body is shared: mirrored copies send the primary's bytes
  // without copying them. `body` must not change while the send runs.
  Awaitable<absl::StatusOr<Response>> Send(RequestHead head,
                                           std::shared_ptr<const std::string> body,
                                           SteadyTime deadline);

  // Closes idle connections (the instance is going away).
  void CloseIdle();
  const Origin& origin() const { return origin_; }
  const asio::any_io_executor& executor() const { return executor_; }

 private:
  template <typename Message>
  Awaitable<absl::StatusOr<Response>> SendMessage(Message& req, SteadyTime deadline);

  asio::any_io_executor executor_;
  Origin origin_;
  UpstreamPoolOptions options_;
  std::vector<std::unique_ptr<Stream>> idle_;
};

// A one-shot GET with a timeout, for probes. Returns the status code.
Awaitable<absl::StatusOr<int>> ProbeGet(asio::any_io_executor executor, Origin origin,
                                        std::string path, std::chrono::milliseconds timeout);

}  // namespace berth::http
