#pragma once
// MetricsHistory: the last hour of every online deployment's request counters, sampled from
// Metrics every 2 s, for the studio's charts (GET .../deployments/{d}/metrics). Each sample
// keeps the cumulative counts (requests by status class, the request-duration histogram);
// a window is answered as per-step deltas: requests per second, 2xx/4xx/5xx/429 counts and
// p50/p99 latency interpolated within the histogram's buckets as Prometheus's
// histogram_quantile does.
//
// Bounded: 1800 samples (one hour) per deployment, and a deployment whose series Metrics no
// longer has (Metrics::Retain dropped it when it was deleted) is dropped at the next sample.
//
// Threading: Record, SampleFrom and Window may be called from any thread (one mutex; Window
// copies what it needs under it). Start runs the sampling on `executor` (a control-plane
// thread, never a data-plane one): each sample copies Metrics' series, which takes only
// Metrics' own short locks.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "gateway/metrics.h"
#include "http/asio.h"

namespace berth::gateway {

class MetricsHistory {
 public:
  static constexpr std::chrono::seconds kStep{2};
  static constexpr size_t kSamplesKept = 1800;  // one hour of kStep

  // What one sample holds of a deployment: cumulative since its series was created.
  struct Counters {
    uint64_t requests = 0;  // all status codes
    uint64_t status_2xx = 0, status_4xx = 0, status_5xx = 0, status_429 = 0;
    Metrics::Histogram duration;
  };
  // One step of a window: the change from the previous sample to this one.
  struct Point {
    SystemTime time;  // when this sample was taken
    double requests_per_s = 0;
    std::optional<double> p50_ms, p99_ms;  // nullopt when no request finished in the step
    uint64_t status_2xx = 0, status_4xx = 0, status_5xx = 0, status_429 = 0;
  };
  using Key = std::pair<std::string, std::string>;  // endpoint, deployment

  explicit MetricsHistory(const Clock& clock);
  ~MetricsHistory();
  MetricsHistory(const MetricsHistory&) = delete;
  MetricsHistory& operator=(const MetricsHistory&) = delete;

  // Records one sample of every deployment in `counters` at the clock's time. Deployments
  // missing from it are forgotten. A deployment seen for the first time starts from zero at
  // the previous sample (its series was created since then), and a count that went down (its
  // series was dropped and created again) starts it over the same way.
  void Record(const std::map<Key, Counters>& counters);
  // Record() of Metrics' online series that name an endpoint and a deployment.
  void SampleFrom(const Metrics& metrics);

  // The steps whose sample was taken within the last `window`, oldest first; empty for a
  // deployment with fewer than two samples, or none.
  std::vector<Point> Window(const std::string& endpoint, const std::string& deployment,
                            std::chrono::seconds window) const;

  // Samples `metrics` every kStep on `executor` until Stop(). `metrics` must outlive it.
  void Start(http::asio::any_io_executor executor, const Metrics& metrics);
  // Stops the sampling; returns at once (the pending wait is cancelled on the executor).
  void Stop();

  // The latency (seconds) below which `quantile` (0..1) of the observations in `delta` fall,
  // interpolated linearly within the bucket (the first bucket starts at 0); the highest
  // finite bound when it falls in +Inf; nullopt without observations.
  static std::optional<double> Quantile(const Metrics::Histogram& delta, double quantile);

 private:
  struct Sample {
    SteadyTime steady;
    SystemTime wall;
    Counters counters;
  };
  struct Timeline {
    std::deque<Sample> samples;
  };

  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<Key, Timeline> timelines_ ABSL_GUARDED_BY(mu_);
  std::optional<std::pair<SteadyTime, SystemTime>> last_sample_ ABSL_GUARDED_BY(mu_);

  http::Awaitable<void> Run(const Metrics* metrics);
  std::atomic<bool> running_{false};
  std::unique_ptr<http::asio::steady_timer> timer_;  // used on the Start executor only
};

}  // namespace berth::gateway
