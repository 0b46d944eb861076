#include "worker/batching/dynamic_batcher.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/backends/fake/fake_backend.h"

namespace berth::worker {
namespace {

using std::chrono::microseconds;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

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

// Results by request id, delivered on batcher threads or inline.
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
  bool AwaitId(const std::string& id) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kTimeout, [&] { return results_.contains(id); });
  }
  bool Has(const std::string& id) {
    std::lock_guard lock(mu_);
    return results_.contains(id);
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

// Lets a test keep an instance busy: an Execute whose batch holds a closed request id blocks
// until the test opens it (or kTimeout passes, so a failing test ends instead of hanging).
class Gates {
 public:
  void Close(const std::string& id) {
    std::lock_guard lock(mu_);
    closed_.insert(id);
  }
  void Open(const std::string& id) {
    std::lock_guard lock(mu_);
    closed_.erase(id);
    changed_.notify_all();
  }
  // Waits until an Execute is blocked on `id`.
  bool AwaitBlocked(const std::string& id) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, kTimeout, [&] { return blocked_.contains(id); });
  }
  // Called by GatedInstance before it runs `batch`.
  void Pass(std::span<const InferRequest* const> batch) {
    std::unique_lock lock(mu_);
    for (const InferRequest* request : batch) {
      if (!closed_.contains(request->id)) continue;
      blocked_.insert(request->id);
      changed_.notify_all();
      changed_.wait_for(lock, kTimeout, [&] { return !closed_.contains(request->id); });
      blocked_.erase(request->id);
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> closed_;
  std::set<std::string> blocked_;
};

// A fake-backend instance behind Gates.
class GatedInstance final : public ModelInstance {
 public:
  GatedInstance(std::unique_ptr<ModelInstance> inner, Gates& gates)
      : inner_(std::move(inner)), gates_(gates) {}
  std::vector<InferResult> Execute(std::span<const InferRequest* const> batch) override {
    gates_.Pass(batch);
    return inner_->Execute(batch);
  }

 private:
  std::unique_ptr<ModelInstance> inner_;
  Gates& gates_;
};

class DynamicBatcherTest : public ::testing::Test {
 protected:
  // A batcher over `instances` gated fake instances of `config`, on the manual clock.
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
      loaded.push_back(std::make_unique<GatedInstance>(std::move(instance).value(), gates_));
    }
    return std::make_unique<DynamicBatcher>(config, std::move(loaded), clock_);
  }

  // Makes one instance busy with request `id` until gates_.Open(id).
  void Occupy(DynamicBatcher& batcher, const std::string& id) {
    gates_.Close(id);
    batcher.Enqueue(Request(id), results_.For(id));
    ASSERT_TRUE(gates_.AwaitBlocked(id));
  }

  void EnqueueEach(DynamicBatcher& batcher, std::vector<std::string> ids, int64_t rows = 1) {
    for (const std::string& id : ids) batcher.Enqueue(Request(id, rows), results_.For(id));
  }

  std::deque<ModelConfig> configs_;
  ManualClock clock_;  // never advanced unless a test says so: the batcher must not wait on it
  std::shared_ptr<FakeBackendLog> log_ = std::make_shared<FakeBackendLog>();
  Gates gates_;
  Results results_;
};

std::vector<std::vector<std::string>> Batches(const FakeBackendLog& log) {
  std::vector<std::vector<std::string>> out;
  for (const FakeExecution& e : log.executions()) out.push_back(e.ids);
  return out;
}

using Ids = std::vector<std::string>;

// (1) An idle instance runs a request at once, whatever the queue delay.

TEST_F(DynamicBatcherTest, IdleInstanceRunsALoneRequestWithoutWaitingForTheDelay) {
  auto batcher = Start(Config(8, microseconds(1000)));
  batcher->Enqueue(Request("a"), results_.For("a"));
  // The clock stands still: a batcher that waited for the delay would never run "a".
  ASSERT_TRUE(results_.Await(1));
  EXPECT_TRUE(results_.Get("a").ok());
  batcher->Enqueue(Request("b"), results_.For("b"));
  ASSERT_TRUE(results_.Await(2));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 1));
}

TEST_F(DynamicBatcherTest, IdleInstanceRunsALoneRequestBelowEveryPreferredSize) {
  auto batcher = Start(Config(8, microseconds(1000), {4, 8}));
  batcher->Enqueue(Request("a"), results_.For("a"));
  ASSERT_TRUE(results_.Await(1));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1));
}

TEST_F(DynamicBatcherTest, WithoutDynamicBatchingEachRequestRunsAlone) {
  ModelConfig config = Config(8, microseconds(100));
  config.dynamic_batching_enabled = false;
  auto batcher = Start(config);
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b", "c"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 1, 1, 1));
  EXPECT_TRUE(results_.Get("b").ok());
}

TEST_F(DynamicBatcherTest, ModelWithoutBatchDimensionRunsEachRequestAlone) {
  auto batcher = Start(Config(0, microseconds(100)));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(3));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 1, 1));
}

// (2) What queued while the instance was busy runs as one batch when it frees, up to
// max_batch_size.

TEST_F(DynamicBatcherTest, RequestsQueuedWhileBusyRunTogetherWhenTheInstanceFrees) {
  auto batcher = Start(Config(8, microseconds(1000)));
  Occupy(*batcher, "hold");
  batcher->Enqueue(Request("a"), results_.For("a"));
  batcher->Enqueue(Request("b", 2), results_.For("b"));
  batcher->Enqueue(Request("c"), results_.For("c"));
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}, Ids{"a", "b", "c"}));
  EXPECT_THAT(log_->batch_rows(), ElementsAre(1, 4));
  for (std::string id : {"a", "b", "c"}) EXPECT_TRUE(results_.Get(id).ok()) << id;
}

TEST_F(DynamicBatcherTest, BatchesTakenOnFreeingNeverExceedMaxBatchSize) {
  auto batcher = Start(Config(4, microseconds(1000)));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"r0", "r1", "r2", "r3", "r4", "r5"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(7));
  EXPECT_THAT(Batches(*log_),
              ElementsAre(Ids{"hold"}, Ids{"r0", "r1", "r2", "r3"}, Ids{"r4", "r5"}));
}

TEST_F(DynamicBatcherTest, RequestsNeverSplitNorOverflowABatch) {
  auto batcher = Start(Config(4, microseconds(1000)));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b"}, 3);  // 6 rows > 4: two batches of 3
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(3));
  EXPECT_THAT(log_->batch_rows(), ElementsAre(1, 3, 3));
}

// (3) Preferred sizes.

TEST_F(DynamicBatcherTest, FreedInstanceTakesTheLargestPreferredSizeQueued) {
  auto batcher = Start(Config(8, microseconds(1000), {2, 4}));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b", "c", "d", "e", "f"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(7));
  // 6 fit, but 4 is preferred; the 2 left behind are themselves preferred.
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}, Ids{"a", "b", "c", "d"}, Ids{"e", "f"}));
}

TEST_F(DynamicBatcherTest, BelowEveryPreferredSizeWhatIsQueuedRunsAtOnce) {
  auto batcher = Start(Config(8, microseconds(1000), {4}));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b", "c"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}, Ids{"a", "b", "c"}));
}

// (4) max_queue_delay bounds how long a preferred size may hold a request back.

TEST_F(DynamicBatcherTest, PreferredSizeHoldsRequestsBackOnlyWithinTheQueueDelay) {
  auto batcher = Start(Config(8, microseconds(100), {2}));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b", "c"});
  clock_.Advance(microseconds(99));  // "c" has waited less than the delay: [a b] is preferred
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}, Ids{"a", "b"}, Ids{"c"}));
}

TEST_F(DynamicBatcherTest, RequestThatWaitedTheQueueDelayIsNotHeldBackForAPreferredSize) {
  auto batcher = Start(Config(8, microseconds(100), {2}));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b", "c"});
  clock_.Advance(microseconds(100));
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}, Ids{"a", "b", "c"}));
}

TEST_F(DynamicBatcherTest, ZeroDelayNeverHoldsARequestBackForAPreferredSize) {
  auto batcher = Start(Config(8, microseconds(0), {2}));
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "b", "c"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(4));
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}, Ids{"a", "b", "c"}));
}

// (5) Several instances: each idle one takes work at once.

TEST_F(DynamicBatcherTest, IdleInstanceRunsARequestWhileAnotherIsBusy) {
  auto batcher = Start(Config(8, microseconds(1000)), 2);
  Occupy(*batcher, "hold");
  batcher->Enqueue(Request("next"), results_.For("next"));
  ASSERT_TRUE(results_.AwaitId("next"));  // the clock stands still, "hold" still runs
  EXPECT_TRUE(results_.Get("next").ok());
  EXPECT_FALSE(results_.Has("hold"));
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(2));
}

TEST_F(DynamicBatcherTest, EveryIdleInstanceTakesWorkAtOnce) {
  auto batcher = Start(Config(8, microseconds(1000)), 3);
  Occupy(*batcher, "hold1");
  Occupy(*batcher, "hold2");
  Occupy(*batcher, "hold3");  // only possible if each instance took its request at once
  EnqueueEach(*batcher, {"a", "b", "c"});
  gates_.Open("hold2");
  ASSERT_TRUE(results_.Await(4));
  gates_.Open("hold1");
  gates_.Open("hold3");
  ASSERT_TRUE(results_.Await(6));
  // The first instance to free took everything queued in one batch.
  EXPECT_THAT(Batches(*log_),
              UnorderedElementsAre(Ids{"hold1"}, Ids{"hold2"}, Ids{"hold3"}, Ids{"a", "b", "c"}));
}

TEST_F(DynamicBatcherTest, RequestsLeftBehindGoToAnotherIdleInstance) {
  auto batcher = Start(Config(8, microseconds(1000), {2}), 2);
  Occupy(*batcher, "hold1");
  Occupy(*batcher, "hold2");
  gates_.Close("a");  // keeps the batch [a b] on its instance
  EnqueueEach(*batcher, {"a", "b", "c"});
  gates_.Open("hold1");
  ASSERT_TRUE(gates_.AwaitBlocked("a"));
  gates_.Open("hold2");
  // The other instance frees and takes "c" while [a b] is still running.
  ASSERT_TRUE(results_.AwaitId("c"));
  EXPECT_FALSE(results_.Has("a"));
  gates_.Open("a");
  ASSERT_TRUE(results_.Await(5));
  EXPECT_THAT(Batches(*log_),
              UnorderedElementsAre(Ids{"hold1"}, Ids{"hold2"}, Ids{"a", "b"}, Ids{"c"}));
}

// Failures, statistics, shutdown.

TEST_F(DynamicBatcherTest, WholeBatchFailureIsRetriedSoOnlyTheBadRequestFails) {
  ModelConfig config = Config(4, microseconds(1000));
  config.parameters["poison_id"] = "bad";
  auto batcher = Start(config);
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "bad", "c", "d"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(5));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 4, 1, 1, 1, 1));
  for (std::string id : {"a", "c", "d"}) {
    InferResult result = results_.Get(id);
    ASSERT_TRUE(result.ok()) << id << ": " << result.status();
    ASSERT_EQ(result->size(), 1u);
    EXPECT_EQ((*result)[0].name, "y");
  }
  EXPECT_EQ(results_.Get("bad").status().code(), absl::StatusCode::kInternal);

  BatcherStats stats = batcher->stats();
  EXPECT_EQ(stats.execution_count, 6u);
  EXPECT_EQ(stats.success, 4u);
  EXPECT_EQ(stats.failure, 1u);
  EXPECT_EQ(stats.inference_count, 4u);
}

TEST_F(DynamicBatcherTest, RequestFailingAloneInABatchIsNotRetried) {
  ModelConfig config = Config(2, microseconds(1000));
  config.parameters["fail_id"] = "bad";
  auto batcher = Start(config);
  Occupy(*batcher, "hold");
  EnqueueEach(*batcher, {"a", "bad"});
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(3));
  EXPECT_THAT(log_->batch_requests(), ElementsAre(1, 2));
  EXPECT_TRUE(results_.Get("a").ok());
  EXPECT_EQ(results_.Get("bad").status().code(), absl::StatusCode::kInternal);
}

TEST_F(DynamicBatcherTest, StatsCountRowsExecutionsAndQueueTime) {
  auto batcher = Start(Config(8, microseconds(1000)));
  Occupy(*batcher, "hold");
  batcher->Enqueue(Request("a", 2), results_.For("a"));
  batcher->Enqueue(Request("b", 3), results_.For("b"));
  clock_.Advance(microseconds(70));
  gates_.Open("hold");
  ASSERT_TRUE(results_.Await(3));
  BatcherStats stats = batcher->stats();
  EXPECT_EQ(stats.inference_count, 6u);
  EXPECT_EQ(stats.execution_count, 2u);
  EXPECT_EQ(stats.success, 3u);
  EXPECT_EQ(stats.failure, 0u);
  EXPECT_EQ(stats.queue_ns, 2u * 70'000u);  // "hold" started at once
  // "hold" ran while the clock moved 70 us; the batch [a b] ran with the clock standing still.
  EXPECT_EQ(stats.compute_ns, 70'000u);
}

TEST_F(DynamicBatcherTest, StopLetsTheRunningBatchFinishAndFailsTheQueuedRequests) {
  auto batcher = Start(Config(8, microseconds(1000)));
  Occupy(*batcher, "hold");
  batcher->Enqueue(Request("a"), results_.For("a"));
  std::thread stopper([&] { batcher->Stop(); });
  // Once Stop refuses a request inline, "a" can no longer be taken by the instance. Probes sent
  // before that queue behind "a".
  const auto give_up = std::chrono::steady_clock::now() + kTimeout;
  size_t probes = 0;
  while (true) {
    const std::string probe = "probe" + std::to_string(probes++);
    batcher->Enqueue(Request(probe), results_.For(probe));
    if (results_.Has(probe)) break;
    if (std::chrono::steady_clock::now() > give_up) break;
    std::this_thread::yield();
  }
  gates_.Open("hold");
  stopper.join();
  EXPECT_TRUE(results_.Get("hold").ok());
  InferResult result = results_.Get("a");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result.status().message(), "model is unloading");
  EXPECT_THAT(Batches(*log_), ElementsAre(Ids{"hold"}));
  // Every probe was answered, those that queued included, and none ran.
  EXPECT_EQ(results_.size(), probes + 2);
  for (size_t i = 0; i < probes; ++i) {
    EXPECT_EQ(results_.Get("probe" + std::to_string(i)).status().code(),
              absl::StatusCode::kUnavailable);
  }
}

TEST_F(DynamicBatcherTest, StopIsIdempotentAndLaterRequestsFailInline) {
  ModelConfig config = Config(8, microseconds(0));
  auto batcher = Start(config);
  batcher->Stop();
  batcher->Stop();  // idempotent
  batcher->Enqueue(Request("late"), results_.For("late"));
  ASSERT_TRUE(results_.Has("late"));
  EXPECT_EQ(results_.Get("late").status().message(), "model is unloading");
  batcher.reset();
  EXPECT_EQ(results_.size(), 1u);
  EXPECT_TRUE(log_->executions().empty());
}

TEST_F(DynamicBatcherTest, NoInstancesFailsRequestsInline) {
  ModelConfig config = Config(8, microseconds(0));
  DynamicBatcher batcher(config, {}, clock_);
  batcher.Enqueue(Request("a"), results_.For("a"));
  ASSERT_EQ(results_.size(), 1u);
  EXPECT_EQ(results_.Get("a").status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace berth::worker
