#pragma once
// FakeProber: a Prober for supervisor tests. Answers every probe at once: healthy unless the
// test marked the instance (by port or by socket path) or all instances unhealthy. Counts the
// probes and keeps the last target. Thread-safe.

#include <map>

#include "absl/synchronization/mutex.h"
#include "controlplane/supervisor/prober.h"

namespace berth::controlplane {

class FakeProber final : public Prober {
 public:
  void Probe(const ProbeTarget& target, const std::string& path, std::chrono::milliseconds timeout,
             std::function<void(ProbeResult)> done) override {
    bool healthy;
    {
      absl::MutexLock lock(&mu_);
      ++probes_;
      last_target_ = target;
      healthy = default_healthy_;
      if (auto it = by_socket_.find(SocketOf(target)); it != by_socket_.end()) {
        healthy = it->second;
      } else if (auto it = by_port_.find(target.port); it != by_port_.end()) {
        healthy = it->second;
      }
    }
    done({healthy, healthy ? "HTTP 200" : "HTTP 503"});
  }

  void SetDefaultHealthy(bool healthy) {
    absl::MutexLock lock(&mu_);
    default_healthy_ = healthy;
  }
  void SetHealthy(int port, bool healthy) {
    absl::MutexLock lock(&mu_);
    by_port_[port] = healthy;
  }
  // `socket`: the target's runner_control_socket or http_socket.
  void SetHealthy(const std::string& socket, bool healthy) {
    absl::MutexLock lock(&mu_);
    by_socket_[socket] = healthy;
  }
  int probes() const {
    absl::MutexLock lock(&mu_);
    return probes_;
  }
  ProbeTarget last_target() const {
    absl::MutexLock lock(&mu_);
    return last_target_;
  }

 private:
  static std::string SocketOf(const ProbeTarget& target) {
    return !target.runner_control_socket.empty() ? target.runner_control_socket
                                                 : target.http_socket;
  }

  mutable absl::Mutex mu_;
  bool default_healthy_ ABSL_GUARDED_BY(mu_) = true;
  std::map<int, bool> by_port_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> by_socket_ ABSL_GUARDED_BY(mu_);
  int probes_ ABSL_GUARDED_BY(mu_) = 0;
  ProbeTarget last_target_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::controlplane
