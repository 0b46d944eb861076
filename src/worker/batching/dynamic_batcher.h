#pragma once
// DynamicBatcher: the scheduler in front of a model version's instances. Requests queue per
// model in arrival order; each instance (instance_group copy) has a thread that forms batches
// from the head of the queue by BatchPolicy's rules and runs them with ModelInstance::Execute.
//
// Failure isolation: when every request of a multi-request batch fails (a whole-batch error such
// as a framework exception), each request runs again alone, so only the bad one fails.
// Threading: every method may be called from any thread.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "worker/backend.h"
#include "worker/batching/waiter.h"
#include "worker/model_config.h"

namespace berth::worker {

// Counters for the statistics extension. Durations are summed per request, so dividing by
// success + failure gives averages.
struct BatcherStats {
  uint64_t inference_count = 0;  // rows of successful requests
  uint64_t execution_count = 0;  // ModelInstance::Execute calls
  uint64_t success = 0;          // requests
  uint64_t failure = 0;          // requests
  uint64_t queue_ns = 0;         // from Enqueue to the start of the request's batch
  uint64_t compute_ns = 0;       // the Execute calls that ran the request
};

class DynamicBatcher {
 public:
  // One thread per instance. `config` must outlive the batcher. `waiter` sleeps by `clock`:
  // SteadyWaiter for SystemClock, ManualWaiter for ManualClock.
  DynamicBatcher(const ModelConfig& config, std::vector<std::unique_ptr<ModelInstance>> instances,
                 const Clock& clock, Waiter& waiter = SteadyWaiter::Get());
  // Stops the threads once their current batch is done; requests still queued get
  // UNAVAILABLE("model is unloading").
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // `done` is called exactly once: on an instance thread, or inline when the batcher is
  // stopping or has no instances.
  void Enqueue(InferRequest request, std::function<void(InferResult)> done);

  BatcherStats stats() const;

 private:
  struct Pending {
    InferRequest request;
    std::function<void(InferResult)> done;
    int64_t rows = 1;
    SteadyTime enqueued;
  };

  void Loop(ModelInstance* instance);
  // Runs `batch` on `instance` and delivers every result.
  void RunBatch(ModelInstance* instance, std::vector<Pending>& batch, SteadyTime start);
  // One Execute call; always one result per request.
  std::vector<InferResult> Execute(ModelInstance* instance,
                                   std::span<const InferRequest* const> requests);

  const ModelConfig& config_;
  std::vector<std::unique_ptr<ModelInstance>> instances_;
  const Clock& clock_;
  Waiter& waiter_;

  std::mutex mu_;
  std::condition_variable cv_;  // the queue changed or the batcher is stopping
  std::deque<Pending> queue_;
  bool stopping_ = false;

  mutable std::mutex stats_mu_;
  BatcherStats stats_;

  std::vector<std::thread> threads_;  // last: started once everything above exists
};

}  // namespace berth::worker
