#include "gateway/metrics_history.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

namespace berth::gateway {
namespace {

using std::chrono::seconds;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;
using Key = MetricsHistory::Key;

class MetricsHistoryTest : public ::testing::Test {
 protected:
  // Records the fed counters after advancing the clock by `step`.
  void Tick(seconds step = MetricsHistory::kStep) {
    clock_.Advance(step);
    history_.Record(counters_);
  }
  // Counts `n` requests of `status`, each taking `seconds`, on endpoint e / deployment d.
  void Requests(int n, int status, double latency_s, const Key& key = {"e", "d"}) {
    MetricsHistory::Counters& c = counters_[key];
    for (int i = 0; i < n; ++i) {
      c.requests++;
      if (status / 100 == 2) c.status_2xx++;
      if (status / 100 == 4) c.status_4xx++;
      if (status / 100 == 5) c.status_5xx++;
      if (status == 429) c.status_429++;
      c.duration.Observe(latency_s);
    }
  }

  ManualClock clock_;
  MetricsHistory history_{clock_};
  std::map<Key, MetricsHistory::Counters> counters_;
};

TEST(MetricsHistoryQuantileTest, InterpolatesWithinTheBucketLikeHistogramQuantile) {
  Metrics::Histogram h;
  EXPECT_EQ(MetricsHistory::Quantile(h, 0.5), std::nullopt);
  // Ten observations in (0.01, 0.025]: the median lies half way through that bucket.
  for (int i = 0; i < 10; ++i) h.Observe(0.02);
  EXPECT_THAT(MetricsHistory::Quantile(h, 0.5), Optional(DoubleNear(0.0175, 1e-12)));
  EXPECT_THAT(MetricsHistory::Quantile(h, 0.99), Optional(DoubleNear(0.02485, 1e-12)));
  // Ten more in (0.1, 0.25]: the median is the top of the lower bucket, p99 near 0.25.
  for (int i = 0; i < 10; ++i) h.Observe(0.2);
  EXPECT_THAT(MetricsHistory::Quantile(h, 0.5), Optional(DoubleNear(0.025, 1e-12)));
  EXPECT_THAT(MetricsHistory::Quantile(h, 0.99), Optional(DoubleNear(0.247, 1e-12)));
  // The first bucket starts at zero.
  Metrics::Histogram fast;
  fast.Observe(0.0001);
  fast.Observe(0.0001);
  EXPECT_THAT(MetricsHistory::Quantile(fast, 0.5), Optional(DoubleNear(0.00025, 1e-12)));
  // Beyond the last bound: the last bound.
  Metrics::Histogram slow;
  slow.Observe(1000);
  EXPECT_THAT(MetricsHistory::Quantile(slow, 0.5), Optional(Metrics::kBuckets.back()));
}

TEST_F(MetricsHistoryTest, StepsAreDeltasWithRatesAndLatencies) {
  Requests(0, 200, 0);  // the deployment's series exists, without requests
  Tick();
  Requests(10, 200, 0.02);
  Requests(3, 404, 0.02);
  Requests(1, 429, 0.02);
  Tick();
  Tick();  // nothing happened in this step
  Requests(2, 503, 0.2);
  Tick();
  auto points = history_.Window("e", "d", seconds(300));
  ASSERT_EQ(points.size(), 3u);
  EXPECT_DOUBLE_EQ(points[0].requests_per_s, 14 / 2.0);
  EXPECT_EQ(points[0].status_2xx, 10u);
  EXPECT_EQ(points[0].status_4xx, 4u);  // 404s and the 429
  EXPECT_EQ(points[0].status_429, 1u);
  EXPECT_EQ(points[0].status_5xx, 0u);
  EXPECT_THAT(points[0].p50_ms, Optional(DoubleNear(17.5, 1e-9)));
  EXPECT_DOUBLE_EQ(points[1].requests_per_s, 0);
  EXPECT_EQ(points[1].status_2xx, 0u);
  EXPECT_EQ(points[1].p50_ms, std::nullopt);
  EXPECT_EQ(points[1].p99_ms, std::nullopt);
  // The last step's latencies come from its own requests only, not the earlier fast ones.
  EXPECT_EQ(points[2].status_5xx, 2u);
  EXPECT_THAT(points[2].p50_ms, Optional(DoubleNear(175, 1e-9)));
  EXPECT_THAT(points[2].p99_ms, Optional(DoubleNear(248.5, 1e-9)));
  // Oldest first, at the sample times, one step apart.
  EXPECT_EQ(points[1].time - points[0].time, MetricsHistory::kStep);
  EXPECT_EQ(points[2].time, clock_.WallNow());
}

TEST_F(MetricsHistoryTest, AStepLongerThanPlannedDividesByItsRealLength) {
  Requests(0, 200, 0);
  Tick();
  Requests(20, 200, 0.01);
  Tick(seconds(10));  // the sampler was late
  auto points = history_.Window("e", "d", seconds(300));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_DOUBLE_EQ(points[0].requests_per_s, 2.0);
  EXPECT_EQ(points[0].status_2xx, 20u);
}

TEST_F(MetricsHistoryTest, TheWindowKeepsOnlyRecentSteps) {
  Requests(0, 200, 0);
  for (int i = 0; i < 100; ++i) {
    Requests(1, 200, 0.01);
    Tick();
  }
  // 100 samples, 99 steps; the last 20 s hold the last 10 steps.
  EXPECT_EQ(history_.Window("e", "d", seconds(20)).size(), 10u);
  EXPECT_EQ(history_.Window("e", "d", seconds(3600)).size(), 99u);
  clock_.Advance(seconds(3600));
  EXPECT_THAT(history_.Window("e", "d", seconds(300)), IsEmpty());
}

TEST_F(MetricsHistoryTest, KeepsOneHourPerDeployment) {
  Requests(0, 200, 0);
  for (size_t i = 0; i < MetricsHistory::kSamplesKept + 50; ++i) {
    Requests(1, 200, 0.01);
    Tick();
  }
  auto points = history_.Window("e", "d", seconds(7200));
  EXPECT_EQ(points.size(), MetricsHistory::kSamplesKept);
  for (const auto& p : points) EXPECT_DOUBLE_EQ(p.requests_per_s, 0.5);
}

TEST_F(MetricsHistoryTest, ADeploymentAppearingLaterCountsFromThePreviousSample) {
  Requests(0, 200, 0, {"e", "blue"});
  Tick();
  // "green"'s series is created by its first requests, between two samples.
  Requests(4, 200, 0.01, {"e", "green"});
  Tick();
  auto points = history_.Window("e", "green", seconds(300));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].status_2xx, 4u);
  EXPECT_DOUBLE_EQ(points[0].requests_per_s, 2.0);
  EXPECT_THAT(history_.Window("e", "missing", seconds(300)), IsEmpty());
}

TEST_F(MetricsHistoryTest, DeletedDeploymentsAreDroppedAndRecreatedOnesStartOver) {
  Requests(5, 200, 0.01);
  Requests(5, 200, 0.01, {"e", "other"});
  Tick();
  Requests(5, 200, 0.01);
  Tick();
  ASSERT_EQ(history_.Window("e", "d", seconds(300)).size(), 1u);
  // Deleted: Metrics::Retain dropped its series, so the next sample does not have it.
  counters_.erase({"e", "d"});
  Tick();
  EXPECT_THAT(history_.Window("e", "d", seconds(300)), IsEmpty());
  EXPECT_EQ(history_.Window("e", "other", seconds(300)).size(), 2u);
  // Created again under the same name: a new series from zero.
  Requests(3, 500, 0.01);
  Tick();
  auto points = history_.Window("e", "d", seconds(300));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].status_5xx, 3u);
  EXPECT_EQ(points[0].status_2xx, 0u);
}

TEST_F(MetricsHistoryTest, ACounterThatWentDownStartsTheDeploymentOver) {
  Requests(50, 200, 0.01);
  Tick();
  Requests(10, 200, 0.01);
  Tick();
  // Deleted and created again between two samples: its counts restarted below the last ones.
  counters_.clear();
  Requests(2, 200, 0.01);
  Tick();
  auto points = history_.Window("e", "d", seconds(300));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].status_2xx, 2u);
}

TEST(MetricsHistorySampleTest, SamplesMetricsDeploymentsOnly) {
  ManualClock clock;
  MetricsHistory history(clock);
  Metrics metrics;
  metrics.SetInstances("e", "d", 1, 1);
  metrics.RecordRequest("", "", 401, 0.001);   // unauthenticated: no deployment
  metrics.RecordRequest("e", "", 404, 0.001);  // no deployment chosen
  history.SampleFrom(metrics);
  metrics.RecordRequest("e", "d", 200, 0.003);
  metrics.RecordRequest("e", "d", 429, 0.001);
  clock.Advance(seconds(2));
  history.SampleFrom(metrics);
  auto points = history.Window("e", "d", seconds(60));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].status_2xx, 1u);
  EXPECT_EQ(points[0].status_429, 1u);
  EXPECT_DOUBLE_EQ(points[0].requests_per_s, 1.0);
  EXPECT_THAT(history.Window("e", "", seconds(60)), IsEmpty());
  EXPECT_THAT(history.Window("", "", seconds(60)), IsEmpty());
  // Retain drops the series of deleted deployments, and the history follows.
  metrics.Retain({});
  clock.Advance(seconds(2));
  history.SampleFrom(metrics);
  EXPECT_THAT(history.Window("e", "d", seconds(60)), IsEmpty());
}

TEST(MetricsHistorySampleTest, SamplesOnTheExecutorUntilStopped) {
  ManualClock clock;
  MetricsHistory history(clock);
  Metrics metrics;
  metrics.SetInstances("e", "d", 1, 1);
  http::asio::io_context io;
  history.Start(io.get_executor(), metrics);
  // The first sample is taken at once; the loop then waits for its 2 s timer.
  io.poll();
  metrics.RecordRequest("e", "d", 200, 0.003);
  clock.Advance(seconds(2));
  history.SampleFrom(metrics);
  EXPECT_EQ(history.Window("e", "d", seconds(60)).size(), 1u);
  history.Stop();
  io.run();  // returns: the wait was cancelled and the loop ended
  SUCCEED();
}

}  // namespace
}  // namespace berth::gateway
