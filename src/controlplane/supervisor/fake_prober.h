#pragma once
// FakeProber: a Prober for supervisor tests. Answers every probe at once: healthy unless the
// test marked the port (or all ports) unhealthy. Counts the probes. Thread-safe.

#include <map>

#include "absl/synchronization/mutex.h"
#include "controlplane/supervisor/prober.h"

namespace berth::controlplane {

class FakeProber final : public Prober {
 public:
  void Probe(int port, const std::string& path, std::chrono::milliseconds timeout,
             std::function<void(ProbeResult)> done) override {
    bool healthy;
    {
      absl::MutexLock lock(&mu_);
      ++probes_;
      auto it = health_.find(port);
      healthy = it == health_.end() ? default_healthy_ : it->second;
    }
    done({healthy, healthy ? "HTTP 200" : "HTTP 503"});
  }

  void SetDefaultHealthy(bool healthy) {
    absl::MutexLock lock(&mu_);
    default_healthy_ = healthy;
  }
  void SetHealthy(int port, bool healthy) {
    absl::MutexLock lock(&mu_);
    health_[port] = healthy;
  }
  int probes() const {
    absl::MutexLock lock(&mu_);
    return probes_;
  }

 private:
  mutable absl::Mutex mu_;
  bool default_healthy_ ABSL_GUARDED_BY(mu_) = true;
  std::map<int, bool> health_ ABSL_GUARDED_BY(mu_);
  int probes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace berth::controlplane
