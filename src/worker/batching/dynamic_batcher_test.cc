#include "worker/batching/dynamic_batcher.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/backends/fake/fake_backend.h"

namespace berth::worker {
namespace {

using std::chrono::microseconds;
using ::testing::ElementsAre;

constexpr auto kTimeout = std::chrono::seconds(10);  // real time, only to fail instead of hang

ModelConfig Config(int max_batch_size, microseconds delay, std::vector<int> preferred = {}) {
  ModelConfig config;
  config.name = "m";
  config.backend = "fake";
  config.max_batch_size = max_batch_size;
  config.dynamic_batching_enabled = true;
  config.dynamic_batching.max_queue_delay = delay;
  config.dynamic_batching.preferred_batch_sizes = std::move(preferred);
  config.inputs = {{"x", DataType::kFp32, {1}}};
  config.outputs = {{"y", DataType::kFp32, {1}}};
  return config;
}

InferRequest Request(std::string id, int64_t rows = 1) {
  InferRequest request;
  request.id = std::move(id);
  Tensor x;
  x.name = "x";
  x.datatype = DataType::kFp32;
  x.shape = {rows, 1};
  x.data.assign(static_cast<size_t>(rows) * 4, '\0');
  request.inputs.push_back(std::move(x));
  return request;
}

// Results by request id, delivered on batcher threads.
class Results {
 public:
  std::function<void(InferResult)> For(const std::string& id) {
    return [this, id](InferResult result) {
      std::lock_guard lock(mu_);
      results_.emplace(id, std::move(result));
      changed_.notify_all();
    };
  }
  // Waits (real time, generously) until `n` results arrived.
  bool Await(size_t n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kTimeout, [&] { return results_.size() >= n; });
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return results_.size();
  }
  InferResult Get(const std::string& id) {
    std::lock_guard lock(mu_);
    return results_.at(id);
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, InferResult> results_;
};

class DynamicBatcherTest : public ::testing::Test {
 protected:
  // A batcher over `instances` fake instances of `config`, on the manual clock.
  std::unique_ptr<DynamicBatcher> Start(ModelConfig config_value, int instances = 1) {
    // The batcher and the fake instances keep a reference: the fixture outlives them.
    const ModelConfig& config = configs_.emplace_back(std::move(config_value));
    std::unique_ptr<Backend> backend = MakeFakeBackend(log_);
    std::vector<std::unique_ptr<ModelInstance>> loaded;
    for (int i = 0; i < instances; ++i) {
      LoadRequest load;
      load.config = &config;
      auto instance = backend->Load(load);
      EXPECT_TRUE(instance.ok()) << instance.status();
      loaded.push_back(std::move(instance).value());
    }
    return std::make_unique<DynamicBatcher>(config, std::move(loaded), clock_, waiter_);
  }

  std::deque<ModelConfig> configs_;
  ManualClock clock_;
  ManualWaiter waiter_{clock_};
  std::shared_ptr<FakeBackendLog> log_ = std::make_shared<FakeBackendLog>();
  Results results_;
};

TEST_F(DynamicBatcherTest, WithoutDynamicBatchingEachRequestRunsAloneAtOnce) {
  ModelConfig config = Config(8, microseconds(100));
  config.dynamic_batching_enabled = false;
  auto batcher = Start(config);
  for (std::string id : {"a", "b", "c"}) batcher->Enqueue(Request(id), results_.For(id));
  ASSERT_TRUE(results_.Await(3));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 1, 1));
  EXPECT_TRUE(results_.Get("b").ok());
}

TEST_F(DynamicBatcherTest, ModelWithoutBatchDimensionRunsEachRequestAlone) {
  ModelConfig config = Config(0, microseconds(100));
  auto batcher = Start(config);
  for (std::string id : {"a", "b"}) batcher->Enqueue(Request(id), results_.For(id));
  ASSERT_TRUE(results_.Await(2));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 1));
}

TEST_F(DynamicBatcherTest, ZeroDelayRunsALoneRequestAtOnce) {
  auto batcher = Start(Config(8, microseconds(0)));
  batcher->Enqueue(Request("a"), results_.For("a"));
  ASSERT_TRUE(results_.Await(1));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1));
}

TEST_F(DynamicBatcherTest, LoneRequestIsHeldForMaxQueueDelayThenRuns) {
  const SteadyTime t0 = clock_.Now();
  auto batcher = Start(Config(8, microseconds(100)));
  batcher->Enqueue(Request("a"), results_.For("a"));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(100)));
  waiter_.Advance(microseconds(99));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(100)));
  EXPECT_EQ(results_.size(), 0u);  // the clock has not reached the deadline: it cannot run
  waiter_.Advance(microseconds(1));
  ASSERT_TRUE(results_.Await(1));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1));
}

TEST_F(DynamicBatcherTest, RequestsArrivingWithinTheDelayShareABatch) {
  const SteadyTime t0 = clock_.Now();
  auto batcher = Start(Config(8, microseconds(100)));
  batcher->Enqueue(Request("a"), results_.For("a"));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(100)));
  waiter_.Advance(microseconds(60));
  batcher->Enqueue(Request("b", 2), results_.For("b"));
  batcher->Enqueue(Request("c"), results_.For("c"));
  // The delay counts from the oldest request.
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(100)));
  EXPECT_EQ(results_.size(), 0u);
  waiter_.Advance(microseconds(40));
  ASSERT_TRUE(results_.Await(3));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(3));
  EXPECT_THAT(log_->batch_rows(), ElementsAre(4));
  ASSERT_EQ(log_->executions().size(), 1u);
  EXPECT_THAT(log_->executions()[0].ids, ElementsAre("a", "b", "c"));
}

TEST_F(DynamicBatcherTest, FullBatchRunsWithoutWaitingAndTheRestWaits) {
  const SteadyTime t0 = clock_.Now();
  auto batcher = Start(Config(4, microseconds(1000)));
  for (int i = 0; i < 6; ++i) {
    const std::string id = "r" + std::to_string(i);
    batcher->Enqueue(Request(id), results_.For(id));
  }
  ASSERT_TRUE(results_.Await(4));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(1000)));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(4));
  waiter_.Advance(microseconds(1000));
  ASSERT_TRUE(results_.Await(6));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(4, 2));
}

TEST_F(DynamicBatcherTest, RequestsNeverSplitNorOverflowABatch) {
  const SteadyTime t0 = clock_.Now();
  auto batcher = Start(Config(4, microseconds(1000)));
  batcher->Enqueue(Request("a", 3), results_.For("a"));
  batcher->Enqueue(Request("b", 3), results_.For("b"));
  // "a" cannot grow (b would make 6 rows > 4), so it runs without waiting; "b" waits.
  ASSERT_TRUE(results_.Await(1));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(1000)));
  EXPECT_THAT(log_->batch_rows(), ElementsAre(3));
  waiter_.Advance(microseconds(1000));
  ASSERT_TRUE(results_.Await(2));
  EXPECT_THAT(log_->batch_rows(), ElementsAre(3, 3));
}

TEST_F(DynamicBatcherTest, PreferredBatchSizeRunsWithoutWaiting) {
  const SteadyTime t0 = clock_.Now();
  auto batcher = Start(Config(8, microseconds(1000), {2}));
  batcher->Enqueue(Request("a"), results_.For("a"));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, t0 + microseconds(1000)));
  batcher->Enqueue(Request("b"), results_.For("b"));
  ASSERT_TRUE(results_.Await(2));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(2));
}

TEST_F(DynamicBatcherTest, WholeBatchFailureIsRetriedSoOnlyTheBadRequestFails) {
  ModelConfig config = Config(4, microseconds(1000));
  config.parameters["poison_id"] = "bad";
  auto batcher = Start(config);
  for (std::string id : {"a", "bad", "c", "d"}) batcher->Enqueue(Request(id), results_.For(id));
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(4, 1, 1, 1, 1));
  for (std::string id : {"a", "c", "d"}) {
    InferResult result = results_.Get(id);
    ASSERT_TRUE(result.ok()) << id << ": " << result.status();
    ASSERT_EQ(result->size(), 1u);
    EXPECT_EQ((*result)[0].name, "y");
  }
  EXPECT_EQ(results_.Get("bad").status().code(), absl::StatusCode::kInternal);

  BatcherStats stats = batcher->stats();
  EXPECT_EQ(stats.execution_count, 5u);
  EXPECT_EQ(stats.success, 3u);
  EXPECT_EQ(stats.failure, 1u);
  EXPECT_EQ(stats.inference_count, 3u);
}

TEST_F(DynamicBatcherTest, RequestFailingAloneInABatchIsNotRetried) {
  ModelConfig config = Config(2, microseconds(1000));
  config.parameters["fail_id"] = "bad";
  auto batcher = Start(config);
  batcher->Enqueue(Request("a"), results_.For("a"));
  batcher->Enqueue(Request("bad"), results_.For("bad"));
  ASSERT_TRUE(results_.Await(2));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(2));
  EXPECT_TRUE(results_.Get("a").ok());
  EXPECT_EQ(results_.Get("bad").status().code(), absl::StatusCode::kInternal);
}

TEST_F(DynamicBatcherTest, StatsCountRowsExecutionsAndQueueTime) {
  auto batcher = Start(Config(8, microseconds(100)));
  batcher->Enqueue(Request("a", 2), results_.For("a"));
  batcher->Enqueue(Request("b", 3), results_.For("b"));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, clock_.Now() + microseconds(100)));
  waiter_.Advance(microseconds(100));
  ASSERT_TRUE(results_.Await(2));
  BatcherStats stats = batcher->stats();
  EXPECT_EQ(stats.inference_count, 5u);
  EXPECT_EQ(stats.execution_count, 1u);
  EXPECT_EQ(stats.success, 2u);
  EXPECT_EQ(stats.failure, 0u);
  EXPECT_EQ(stats.queue_ns, 2u * 100'000u);
  EXPECT_EQ(stats.compute_ns, 0u);  // the manual clock did not move during Execute
}

TEST_F(DynamicBatcherTest, DestructionFailsQueuedRequests) {
  auto batcher = Start(Config(8, microseconds(1000)));
  batcher->Enqueue(Request("a"), results_.For("a"));
  ASSERT_TRUE(waiter_.AwaitWaiting(1, clock_.Now() + microseconds(1000)));
  batcher.reset();
  ASSERT_EQ(results_.size(), 1u);
  InferResult result = results_.Get("a");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result.status().message(), "model is unloading");
  EXPECT_TRUE(log_->executions().empty());
}

TEST_F(DynamicBatcherTest, NoInstancesFailsRequestsInline) {
  ModelConfig config = Config(8, microseconds(0));
  DynamicBatcher batcher(config, {}, clock_, waiter_);
  batcher.Enqueue(Request("a"), results_.For("a"));
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_.Get("a").status().code(), absl::StatusCode::kUnavailable);
}

// An instance whose Execute of request "hold" blocks until the test releases it.
class GateInstance final : public ModelInstance {
 public:
  explicit GateInstance(std::shared_future<void> release, std::promise<void>* entered)
      : release_(std::move(release)), entered_(entered) {}
  std::vector<InferResult> Execute(std::span<const InferRequest* const> batch) override {
    if (batch[0]->id == "hold") {
      entered_->set_value();
      release_.wait();
    }
    return std::vector<InferResult>(batch.size(), std::vector<Tensor>{});
  }

 private:
  std::shared_future<void> release_;
  std::promise<void>* entered_;
};

TEST_F(DynamicBatcherTest, InstancesRunBatchesConcurrently) {
  ModelConfig config = Config(8, microseconds(0));
  config.dynamic_batching_enabled = false;
  std::promise<void> release;
  std::promise<void> entered;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::unique_ptr<ModelInstance>> instances;
  instances.push_back(std::make_unique<GateInstance>(released, &entered));
  instances.push_back(std::make_unique<GateInstance>(released, &entered));
  DynamicBatcher batcher(config, std::move(instances), clock_, waiter_);

  batcher.Enqueue(Request("hold"), results_.For("hold"));
  ASSERT_EQ(entered.get_future().wait_for(kTimeout), std::future_status::ready);
  // One instance is busy with "hold"; the other serves "next" meanwhile.
  batcher.Enqueue(Request("next"), results_.For("next"));
  ASSERT_TRUE(results_.Await(1));
  EXPECT_TRUE(results_.Get("next").ok());
  release.set_value();
  ASSERT_TRUE(results_.Await(2));
}

}  // namespace
}  // namespace berth::worker
