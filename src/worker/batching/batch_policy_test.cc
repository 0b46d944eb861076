#include "worker/batching/batch_policy.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace berth::worker {
namespace {

using std::chrono::microseconds;

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

ModelConfig Batching(int max_batch_size, microseconds delay, std::vector<int> preferred = {}) {
  ModelConfig config;
  config.max_batch_size = max_batch_size;
  config.dynamic_batching_enabled = true;
  config.dynamic_batching.max_queue_delay = delay;
  config.dynamic_batching.preferred_batch_sizes = std::move(preferred);
  return config;
}

// Requests of `rows`, all enqueued at kT0.
std::vector<QueuedRequest> Queue(std::vector<int64_t> rows) {
  std::vector<QueuedRequest> queue;
  for (int64_t r : rows) queue.push_back({r, kT0});
  return queue;
}

BatchDecision Decide(const ModelConfig& config, const std::vector<QueuedRequest>& queue,
                     SteadyTime now = kT0) {
  return DecideBatch(config, queue, now);
}

TEST(BatchPolicyTest, EmptyQueueWaitsForARequest) {
  BatchDecision d = Decide(Batching(8, microseconds(100)), {});
  EXPECT_EQ(d.run, 0u);
  EXPECT_EQ(d.wake_at, SteadyTime::max());
}

TEST(BatchPolicyTest, WithoutDynamicBatchingEachRequestRunsAloneAtOnce) {
  ModelConfig off = Batching(8, microseconds(100));
  off.dynamic_batching_enabled = false;
  EXPECT_EQ(Decide(off, Queue({1, 1, 1})).run, 1u);

  ModelConfig no_batch_dim = Batching(0, microseconds(100));
  EXPECT_FALSE(DynamicBatchingOn(no_batch_dim));
  EXPECT_EQ(Decide(no_batch_dim, Queue({1, 1})).run, 1u);
}

TEST(BatchPolicyTest, LoneRequestWaitsExactlyMaxQueueDelay) {
  ModelConfig config = Batching(8, microseconds(100));
  BatchDecision d = Decide(config, Queue({1}));
  EXPECT_EQ(d.run, 0u);
  EXPECT_EQ(d.wake_at, kT0 + microseconds(100));

  EXPECT_EQ(Decide(config, Queue({1}), kT0 + microseconds(99)).run, 0u);
  EXPECT_EQ(Decide(config, Queue({1}), kT0 + microseconds(100)).run, 1u);
}

TEST(BatchPolicyTest, ZeroDelayRunsWhateverIsQueuedAtOnce) {
  ModelConfig config = Batching(8, microseconds(0));
  EXPECT_EQ(Decide(config, Queue({1})).run, 1u);
  EXPECT_EQ(Decide(config, Queue({2, 1, 3})).run, 3u);
}

TEST(BatchPolicyTest, DelayCountsFromTheOldestRequest) {
  ModelConfig config = Batching(8, microseconds(100));
  std::vector<QueuedRequest> queue = {{1, kT0}, {1, kT0 + microseconds(80)}};
  BatchDecision d = Decide(config, queue, kT0 + microseconds(90));
  EXPECT_EQ(d.run, 0u);
  EXPECT_EQ(d.wake_at, kT0 + microseconds(100));
  EXPECT_EQ(Decide(config, queue, kT0 + microseconds(100)).run, 2u);
}

TEST(BatchPolicyTest, FullBatchRunsWithoutWaiting) {
  ModelConfig config = Batching(4, microseconds(1000));
  EXPECT_EQ(Decide(config, Queue({1, 1, 1, 1})).run, 4u);
  EXPECT_EQ(Decide(config, Queue({1, 1, 1, 1, 1, 1})).run, 4u);
  EXPECT_EQ(Decide(config, Queue({2, 2, 1})).run, 2u);
}

TEST(BatchPolicyTest, BatchThatCannotGrowRunsWithoutWaiting) {
  // 3 rows queued first; the next 3 would make 6 > 4, and requests never split.
  ModelConfig config = Batching(4, microseconds(1000));
  EXPECT_EQ(Decide(config, Queue({3, 3})).run, 1u);
  EXPECT_EQ(Decide(config, Queue({1, 2, 2})).run, 2u);
}

TEST(BatchPolicyTest, RequestAsLargeAsABatchRunsAlone) {
  ModelConfig config = Batching(4, microseconds(1000));
  EXPECT_EQ(Decide(config, Queue({4, 1})).run, 1u);
  EXPECT_EQ(Decide(config, Queue({5, 1})).run, 1u);  // the backend rejects it, alone
}

TEST(BatchPolicyTest, PreferredSizeRunsWhenNothingMoreIsQueued) {
  ModelConfig config = Batching(8, microseconds(1000), {2, 4});
  EXPECT_EQ(Decide(config, Queue({1, 1})).run, 2u);
  EXPECT_EQ(Decide(config, Queue({1, 3})).run, 2u);
  EXPECT_EQ(Decide(config, Queue({4})).run, 1u);
}

TEST(BatchPolicyTest, PreferredSizePassedWaitsForMoreUntilTheDelay) {
  // 3 rows: 2 is preferred but a third request is queued that fits, so wait to grow.
  ModelConfig config = Batching(8, microseconds(1000), {2, 4});
  BatchDecision d = Decide(config, Queue({1, 1, 1}));
  EXPECT_EQ(d.run, 0u);
  EXPECT_EQ(d.wake_at, kT0 + microseconds(1000));
  EXPECT_EQ(Decide(config, Queue({1, 1, 1}), kT0 + microseconds(1000)).run, 3u);
}

TEST(BatchPolicyTest, OverfullQueueTakesTheLargestPreferredSize) {
  ModelConfig config = Batching(8, microseconds(1000), {2, 4});
  // Prefixes 1, 2, 3, 4, 7 rows; 5 more would overflow 8: the largest preferred is 4.
  EXPECT_EQ(Decide(config, Queue({1, 1, 1, 1, 3, 5})).run, 4u);
  // No preferred prefix: run all that fits.
  EXPECT_EQ(Decide(config, Queue({3, 3, 3})).run, 2u);
}

TEST(BatchPolicyTest, NeverExceedsMaxBatchSizeOrSkipsARequest) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    const int max_batch = 1 + static_cast<int>(rng() % 16);
    std::vector<int> preferred;
    for (int p = 1; p <= max_batch; ++p) {
      if (rng() % 4 == 0) preferred.push_back(p);
    }
    ModelConfig config = Batching(max_batch, microseconds(rng() % 3 * 50), preferred);
    std::vector<QueuedRequest> queue;
    const size_t n = rng() % 10;
    for (size_t i = 0; i < n; ++i) {
      queue.push_back({1 + static_cast<int64_t>(rng() % max_batch), kT0 + microseconds(i)});
    }
    const SteadyTime now = kT0 + microseconds(rng() % 200);
    BatchDecision d = DecideBatch(config, queue, now);
    ASSERT_LE(d.run, queue.size());
    if (d.run == 0) {
      // Waiting only while the oldest request is within its delay.
      ASSERT_FALSE(!queue.empty() &&
                   now >= queue[0].enqueued + config.dynamic_batching.max_queue_delay);
      continue;
    }
    int64_t rows = 0;
    for (size_t i = 0; i < d.run; ++i) rows += queue[i].rows;
    ASSERT_LE(rows, max_batch);
  }
}

}  // namespace
}  // namespace berth::worker
