#pragma once
// Prober: the readiness and liveness checks of instances. HttpProber asks the instance the way
// it is reached (ProbeTarget); FakeProber (fake_prober.h) answers from what a test set.
//
// Threading: Probe() is called on the supervisor's control executor and returns at once;
// `done` is called exactly once, on any thread (possibly before Probe() returns), and must not
// block. The supervisor re-posts it to its control executor.
// Errors: a probe that cannot connect, times out or gets a status outside 200-399 is unhealthy,
// with `detail` saying why. A runner's control socket must answer exactly 200.

#include <chrono>
#include <functional>
#include <string>

#include "http/asio.h"

namespace berth::controlplane {

struct ProbeResult {
  bool healthy = false;
  std::string detail;  // "HTTP 200", or why it failed
};

// Where an instance answers probes, first match wins:
//   runner_control_socket  the Python runner parent's control.sock: a berth runner frame
//                          `GET <path>`; 200 healthy, anything else unhealthy
//   http_socket            HTTP GET <path> over this Unix socket (berth-worker, custom relay)
//   port                   HTTP GET http://127.0.0.1:<port><path>
struct ProbeTarget {
  int port = 0;
  std::string http_socket;
  std::string runner_control_socket;
};

class Prober {
 public:
  virtual ~Prober() = default;
  virtual void Probe(const ProbeTarget& target, const std::string& path,
                     std::chrono::milliseconds timeout, std::function<void(ProbeResult)> done) = 0;
};

// Probes on `executor` (the control plane's, never the data plane's).
class HttpProber final : public Prober {
 public:
  explicit HttpProber(http::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  void Probe(const ProbeTarget& target, const std::string& path, std::chrono::milliseconds timeout,
             std::function<void(ProbeResult)> done) override;

 private:
  http::asio::any_io_executor executor_;
};

}  // namespace berth::controlplane
