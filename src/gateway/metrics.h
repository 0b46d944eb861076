#pragma once
// Metrics: request counters, latency histograms, in-flight gauges and mirror counts per
// endpoint and deployment, rendered as Prometheus text. Thread-safe.

#include <array>
#include <map>
#include <string>
#include <tuple>

#include "absl/synchronization/mutex.h"

namespace berth::gateway {

class Metrics {
 public:
  // One finished data-plane request. `deployment` may be "" (rejected before routing).
  void RecordRequest(const std::string& endpoint, const std::string& deployment, int status,
                     double seconds);
  void AddInFlight(const std::string& endpoint, const std::string& deployment, int delta);
  // `result` is "sent" (the mirror deployment answered), "failed" or "dropped" (queue full).
  void RecordMirror(const std::string& endpoint, const std::string& deployment,
                    const std::string& result);

  std::string RenderPrometheus() const;

 private:
  static constexpr std::array<double, 14> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};
    uint64_t count = 0;
    double sum = 0;
  };
  using Key = std::pair<std::string, std::string>;  // endpoint, deployment

  mutable absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
  std::map<Key, Histogram> latency_ ABSL_GUARDED_BY(mu_);
  std::map<Key, int64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> mirror_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway
