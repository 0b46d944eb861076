#pragma once
// DynamicBatcher: the scheduler in front of a model version's instances. Requests queue per
// model in arrival order; each instance (instance_group copy) has a thread that, whenever it is
// free and requests are queued, takes a batch from the head of the queue by BatchPolicy's rules
// at once and runs it with ModelInstance::Execute. Work-conserving: an idle instance never waits
// for more requests, so a lone request costs one hand-off to an instance thread, batched or not;
// batches form from what queued while every instance was busy.
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
  // One thread per instance. `config` must outlive the batcher. `clock` times queueing (request
  // ages for the policy, statistics); the batcher never sleeps on it.
  DynamicBatcher(const ModelConfig& config, std::vector<std::unique_ptr<ModelInstance>> instances,
                 const Clock& clock);
  // Stop().
  ~DynamicBatcher();

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // `done` is called exactly once: on an instance thread, or inline when the batcher is
  // stopping or has no instances.
  void Enqueue(InferRequest request, std::function<void(InferResult)> done);

  // Refuses new requests from now on, lets every instance finish its current batch, then fails
  // the requests still queued with UNAVAILABLE("model is unloading"). Returns when all that is
  // done; later calls return at once. Not from a `done` callback (it runs on an instance thread).
  void Stop();

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

  std::mutex mu_;
  // Idle instance threads wait here for a request (or for Stop). Each Enqueue wakes one; a thread
  // that leaves requests queued after taking its batch wakes the next.
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;

  std::mutex stop_mu_;  // serializes Stop() calls
  mutable std::mutex stats_mu_;
  BatcherStats stats_;

  std::vector<std::thread> threads_;  // last: started once everything above exists
};

}  // namespace berth::worker
