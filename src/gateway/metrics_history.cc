#include "gateway/metrics_history.h"

#include <algorithm>

namespace berth::gateway {
namespace {

// `now - before`, or `now` when a count went down (the series started over since `before`).
uint64_t Delta(uint64_t now, uint64_t before) { return now >= before ? now - before : now; }

bool WentDown(const MetricsHistory::Counters& now, const MetricsHistory::Counters& before) {
  return now.requests < before.requests || now.duration.count < before.duration.count;
}

Metrics::Histogram HistogramDelta(const Metrics::Histogram& now, const Metrics::Histogram& before) {
  Metrics::Histogram delta;
  for (size_t i = 0; i < delta.counts.size(); ++i) {
    delta.counts[i] = Delta(now.counts[i], before.counts[i]);
  }
  delta.count = Delta(now.count, before.count);
  delta.sum = now.sum - before.sum;
  return delta;
}

MetricsHistory::Counters CountersOf(const Metrics::DeploymentValues& values) {
  MetricsHistory::Counters c;
  for (const auto& [code, n] : values.requests) {
    c.requests += n;
    if (code >= 200 && code < 300) c.status_2xx += n;
    if (code >= 400 && code < 500) c.status_4xx += n;
    if (code >= 500 && code < 600) c.status_5xx += n;
    if (code == 429) c.status_429 += n;
  }
  c.duration = values.duration;
  return c;
}

}  // namespace

MetricsHistory::MetricsHistory(const Clock& clock) : clock_(clock) {}

MetricsHistory::~MetricsHistory() { running_ = false; }

std::optional<double> MetricsHistory::Quantile(const Metrics::Histogram& delta, double quantile) {
  if (delta.count == 0) return std::nullopt;
  const double rank = quantile * static_cast<double>(delta.count);
  uint64_t below = 0;  // observations in the buckets before bucket i
  for (size_t i = 0; i < Metrics::kBuckets.size(); ++i) {
    const uint64_t in_bucket = delta.counts[i];
    if (in_bucket > 0 && static_cast<double>(below + in_bucket) >= rank) {
      const double lower = i == 0 ? 0.0 : Metrics::kBuckets[i - 1];
      const double upper = Metrics::kBuckets[i];
      return lower +
             (upper - lower) * (rank - static_cast<double>(below)) / static_cast<double>(in_bucket);
    }
    below += in_bucket;
  }
  // In +Inf: nothing to interpolate towards, so the highest finite bound, as Prometheus does.
  return Metrics::kBuckets.back();
}

void MetricsHistory::Record(const std::map<Key, Counters>& counters) {
  const SteadyTime steady = clock_.Now();
  const SystemTime wall = clock_.WallNow();
  absl::MutexLock lock(&mu_);
  std::erase_if(timelines_, [&](const auto& entry) { return !counters.contains(entry.first); });
  for (const auto& [key, now] : counters) {
    Timeline& timeline = timelines_[key];
    const bool started_over =
        !timeline.samples.empty() && WentDown(now, timeline.samples.back().counters);
    if (started_over) timeline.samples.clear();
    // Its series was created (again) after the previous sample: it counted from zero there.
    if (timeline.samples.empty() && last_sample_) {
      timeline.samples.push_back({last_sample_->first, last_sample_->second, Counters()});
    }
    timeline.samples.push_back({steady, wall, now});
    // One more than the steps kept: the oldest step needs the sample before it.
    while (timeline.samples.size() > kSamplesKept + 1) timeline.samples.pop_front();
  }
  last_sample_ = std::make_pair(steady, wall);
}

void MetricsHistory::SampleFrom(const Metrics& metrics) {
  std::map<Key, Counters> counters;
  for (const auto& series : metrics.OnlineValues()) {
    if (series.endpoint.empty() || series.deployment.empty()) continue;
    counters.emplace(Key(series.endpoint, series.deployment), CountersOf(series.values));
  }
  Record(counters);
}

std::vector<MetricsHistory::Point> MetricsHistory::Window(const std::string& endpoint,
                                                          const std::string& deployment,
                                                          std::chrono::seconds window) const {
  const SteadyTime since = clock_.Now() - window;
  std::vector<Sample> samples;
  {
    absl::MutexLock lock(&mu_);
    auto it = timelines_.find(Key(endpoint, deployment));
    if (it == timelines_.end()) return {};
    const auto& kept = it->second.samples;
    // The first sample within the window, and the one before it (its step's start).
    auto first =
        std::find_if(kept.begin(), kept.end(), [&](const Sample& s) { return s.steady > since; });
    if (first == kept.end()) return {};
    if (first != kept.begin()) --first;
    samples.assign(first, kept.end());
  }
  std::vector<Point> points;
  for (size_t i = 1; i < samples.size(); ++i) {
    const Sample& before = samples[i - 1];
    const Sample& now = samples[i];
    const double seconds = std::chrono::duration<double>(now.steady - before.steady).count();
    Point p;
    p.time = now.wall;
    p.requests_per_s =
        seconds > 0
            ? static_cast<double>(Delta(now.counters.requests, before.counters.requests)) / seconds
            : 0;
    p.status_2xx = Delta(now.counters.status_2xx, before.counters.status_2xx);
    p.status_4xx = Delta(now.counters.status_4xx, before.counters.status_4xx);
    p.status_5xx = Delta(now.counters.status_5xx, before.counters.status_5xx);
    p.status_429 = Delta(now.counters.status_429, before.counters.status_429);
    const Metrics::Histogram delta =
        HistogramDelta(now.counters.duration, before.counters.duration);
    if (auto q = Quantile(delta, 0.5)) p.p50_ms = *q * 1000;
    if (auto q = Quantile(delta, 0.99)) p.p99_ms = *q * 1000;
    points.push_back(p);
  }
  return points;
}

void MetricsHistory::Start(http::asio::any_io_executor executor, const Metrics& metrics) {
  running_ = true;
  timer_ = std::make_unique<http::asio::steady_timer>(executor);
  http::asio::co_spawn(executor, Run(&metrics), http::asio::detached);
}

void MetricsHistory::Stop() {
  running_ = false;
  if (timer_) {
    http::asio::post(timer_->get_executor(), [this] { timer_->cancel(); });
  }
}

http::Awaitable<void> MetricsHistory::Run(const Metrics* metrics) {
  while (running_) {
    SampleFrom(*metrics);
    timer_->expires_after(kStep);
    boost::system::error_code ec;
    co_await timer_->async_wait(http::Await(ec));
  }
}

}  // namespace berth::gateway
