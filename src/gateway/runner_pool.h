#pragma once
// RunnerPool: keep-alive connections to one Python runner worker process over its Unix socket,
// speaking berth runner frames (runner_frames.h): one request, then one response, per exchange.
// RunnerLoad: the requests in flight per runner worker, shared by every data-plane thread, so
// that a request goes to the least busy worker of an instance (a worker answers one request
// at a time; a second one waits behind the first).
//
// Threading: a RunnerPool belongs to one data-plane thread (one io_context run by one thread);
// Send() may be awaited by many coroutines at once on that thread. RunnerLoad is thread-safe.
// Errors from Send(), the InstanceClient contract:
//   DEADLINE_EXCEEDED  no answer before the deadline; the connection is closed, which the
//                      worker sees as the cancel
//   UNAVAILABLE        could not connect, or the worker closed before reading the request
//   ABORTED            the worker failed after the request was sent (closed without answering,
//                      reset, closed mid-answer) or broke the protocol (the connection is
//                      closed; the client gets 502). Never retried: the request may have run.
//   RESOURCE_EXHAUSTED the answer's body is over `max_response_body_bytes`; a payload announced
//                      larger is not read and the connection is closed

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "http/asio.h"

namespace berth::gateway::runner {

struct RunnerPoolOptions {
  size_t max_idle = 64;                             // idle connections kept
  uint64_t max_response_body_bytes = 100ull << 20;  // larger answers fail
};

class RunnerPool {
 public:
  RunnerPool(http::asio::any_io_executor executor, std::string socket_path,
             RunnerPoolOptions options = {});
  ~RunnerPool();  // closes idle connections

  // Sends one request message, `prefix` (from EncodeRequestPrefix, counting `body`) followed by
  // `body`, and returns the worker's answer. Both must stay valid while the send runs.
  http::Awaitable<absl::StatusOr<http::Response>> Send(std::string_view prefix,
                                                       std::string_view body, SteadyTime deadline);

  void CloseIdle();
  bool has_idle() const { return !idle_.empty(); }
  const std::string& socket_path() const { return socket_path_; }

 private:
  http::asio::any_io_executor executor_;
  std::string socket_path_;
  RunnerPoolOptions options_;
  std::vector<std::unique_ptr<http::Stream>> idle_;
};

// Requests in flight per worker of each runner instance, across data-plane threads.
class RunnerLoad {
 public:
  struct Workers {
    explicit Workers(size_t count) : in_flight(count) {}
    std::vector<std::atomic<int>> in_flight;  // by worker index
  };

  // The counters of one instance incarnation with `workers` workers, created on first use and
  // kept while any caller holds them. `key` names the instance (its first socket path).
  std::shared_ptr<Workers> For(const std::string& key, uint64_t incarnation, size_t workers);

 private:
  absl::Mutex mu_;
  std::map<std::pair<std::string, uint64_t>, std::weak_ptr<Workers>> workers_ ABSL_GUARDED_BY(mu_);
};

// A one-shot exchange for probes: sends `GET <path>` (no headers, no body) to the runner socket
// and returns the status of the answer. Errors as RunnerPool::Send.
http::Awaitable<absl::StatusOr<int>> ProbeRunner(http::asio::any_io_executor executor,
                                                 std::string socket_path, std::string path,
                                                 std::chrono::milliseconds timeout);

}  // namespace berth::gateway::runner
