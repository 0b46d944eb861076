#include "worker/batching/batch_policy.h"

#include <algorithm>
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

size_t Taken(const ModelConfig& config, const std::vector<QueuedRequest>& queue,
             SteadyTime now = kT0) {
  return BatchToRun(config, queue, now);
}

TEST(BatchPolicyTest, EmptyQueueRunsNothing) {
  EXPECT_EQ(Taken(Batching(8, microseconds(100)), {}), 0u);
}

TEST(BatchPolicyTest, WithoutDynamicBatchingEachRequestRunsAlone) {
  ModelConfig off = Batching(8, microseconds(100));
  off.dynamic_batching_enabled = false;
  EXPECT_FALSE(DynamicBatchingOn(off));
  EXPECT_EQ(Taken(off, Queue({1, 1, 1})), 1u);

  ModelConfig no_batch_dim = Batching(0, microseconds(100));
  EXPECT_FALSE(DynamicBatchingOn(no_batch_dim));
  EXPECT_EQ(Taken(no_batch_dim, Queue({1, 1})), 1u);
}

TEST(BatchPolicyTest, LoneRequestRunsAtOnceWhateverTheDelay) {
  // The old policy held it for max_queue_delay; a free instance now never waits.
  EXPECT_EQ(Taken(Batching(8, microseconds(100)), Queue({1})), 1u);
  EXPECT_EQ(Taken(Batching(8, microseconds(100), {4, 8}), Queue({1})), 1u);
  EXPECT_EQ(Taken(Batching(8, microseconds(0)), Queue({1})), 1u);
}

TEST(BatchPolicyTest, EverythingQueuedThatFitsRunsAtOnce) {
  ModelConfig config = Batching(8, microseconds(1000));
  EXPECT_EQ(Taken(config, Queue({2, 1, 3})), 3u);
  EXPECT_EQ(Taken(config, Queue({1, 1, 1, 1, 1, 1, 1, 1, 1, 1})), 8u);
}

TEST(BatchPolicyTest, RequestsNeverSplitNorOverflowABatch) {
  ModelConfig config = Batching(4, microseconds(1000));
  EXPECT_EQ(Taken(config, Queue({3, 3})), 1u);
  EXPECT_EQ(Taken(config, Queue({1, 2, 2})), 2u);
  EXPECT_EQ(Taken(config, Queue({2, 2, 1})), 2u);
}

TEST(BatchPolicyTest, RequestAsLargeAsABatchRunsAlone) {
  ModelConfig config = Batching(4, microseconds(1000));
  EXPECT_EQ(Taken(config, Queue({4, 1})), 1u);
  EXPECT_EQ(Taken(config, Queue({5, 1})), 1u);  // the backend rejects it, alone
}

TEST(BatchPolicyTest, LargestPreferredSizeQueuedRunsFirst) {
  ModelConfig config = Batching(8, microseconds(1000), {2, 4});
  EXPECT_EQ(Taken(config, Queue({1, 1, 1})), 2u);           // 3 fit; 2 is preferred
  EXPECT_EQ(Taken(config, Queue({1, 1, 1, 1, 1, 1})), 4u);  // 6 fit; 4 is the largest preferred
  EXPECT_EQ(Taken(config, Queue({1, 1, 1, 1, 3, 5})), 4u);  // 7 fit; 4 again
  EXPECT_EQ(Taken(config, Queue({1, 3, 1})), 2u);
}

TEST(BatchPolicyTest, MaxBatchSizeCountsAsPreferred) {
  ModelConfig config = Batching(8, microseconds(1000), {2});
  EXPECT_EQ(Taken(config, Queue({1, 1, 6, 1})), 3u);  // a full batch beats the preferred 2
  EXPECT_EQ(Taken(config, Queue({4, 4})), 2u);
}

TEST(BatchPolicyTest, BelowEveryPreferredSizeWhatFitsRuns) {
  ModelConfig config = Batching(8, microseconds(1000), {4});
  EXPECT_EQ(Taken(config, Queue({1, 1, 1})), 3u);
  EXPECT_EQ(Taken(config, Queue({3, 3, 3})), 2u);  // 3 and 6 are not preferred; 9 overflows
}

TEST(BatchPolicyTest, PreferredSizeHoldsBackOnlyRequestsYoungerThanTheDelay) {
  ModelConfig config = Batching(8, microseconds(100), {2});
  std::vector<QueuedRequest> queue = {{1, kT0}, {1, kT0}, {1, kT0 + microseconds(30)}};
  // The request left behind (the third) decides: it has waited 69 us, then 70 us.
  EXPECT_EQ(Taken(config, queue, kT0 + microseconds(99)), 2u);
  EXPECT_EQ(Taken(config, queue, kT0 + microseconds(129)), 2u);
  EXPECT_EQ(Taken(config, queue, kT0 + microseconds(130)), 3u);
}

TEST(BatchPolicyTest, ZeroDelayIgnoresPreferredSizes) {
  ModelConfig config = Batching(8, microseconds(0), {2, 4});
  EXPECT_EQ(Taken(config, Queue({1, 1, 1})), 3u);
  EXPECT_EQ(Taken(config, Queue({1, 1, 1, 1, 1, 1})), 6u);
}

TEST(BatchPolicyTest, AlwaysRunsSomethingNeverTooMuchNeverOutOfOrder) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    const int max_batch = 1 + static_cast<int>(rng() % 16);
    std::vector<int> preferred;
    for (int p = 1; p <= max_batch; ++p) {
      if (rng() % 4 == 0) preferred.push_back(p);
    }
    const microseconds delay(rng() % 3 * 50);
    ModelConfig config = Batching(max_batch, delay, preferred);
    std::vector<QueuedRequest> queue;
    const size_t n = rng() % 10;
    for (size_t i = 0; i < n; ++i) {
      queue.push_back({1 + static_cast<int64_t>(rng() % max_batch), kT0 + microseconds(i)});
    }
    const SteadyTime now = kT0 + microseconds(rng() % 200);
    const size_t run = BatchToRun(config, queue, now);
    ASSERT_LE(run, queue.size());
    ASSERT_EQ(run == 0, queue.empty());  // work-conserving
    int64_t rows = 0;
    for (size_t i = 0; i < run; ++i) rows += queue[i].rows;
    ASSERT_TRUE(rows <= max_batch || run == 1);
    // A request that fits is left behind only for a preferred size, and only while it is young.
    if (run < queue.size() && rows + queue[run].rows <= max_batch) {
      ASSERT_TRUE(rows == max_batch ||
                  std::find(preferred.begin(), preferred.end(), rows) != preferred.end());
      ASSERT_LT(now - queue[run].enqueued, delay);
    }
  }
}

}  // namespace
}  // namespace berth::worker
