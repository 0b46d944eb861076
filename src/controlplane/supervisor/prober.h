#pragma once
// Prober: the readiness and liveness checks of instances. HttpProber sends a GET to the
// instance on loopback; FakeProber (fake_prober.h) answers from what a test set.
//
// Threading: Probe() is called on the supervisor's control executor and returns at once;
// `done` is called exactly once, on any thread (possibly before Probe() returns), and must not
// block. The supervisor re-posts it to its control executor.
// Errors: a probe that cannot connect, times out or gets a status outside 200-399 is unhealthy,
// with `detail` saying why.

#include <chrono>
#include <functional>
#include <string>

#include "http/asio.h"

namespace berth::controlplane {

struct ProbeResult {
  bool healthy = false;
  std::string detail;  // "HTTP 200", or why it failed
};

class Prober {
 public:
  virtual ~Prober() = default;
  virtual void Probe(int port, const std::string& path, std::chrono::milliseconds timeout,
                     std::function<void(ProbeResult)> done) = 0;
};

// GET http://127.0.0.1:<port><path> on `executor` (the control plane's, never the data
// plane's).
class HttpProber final : public Prober {
 public:
  explicit HttpProber(http::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  void Probe(int port, const std::string& path, std::chrono::milliseconds timeout,
             std::function<void(ProbeResult)> done) override;

 private:
  http::asio::any_io_executor executor_;
};

}  // namespace berth::controlplane
