#include "worker/batching/dynamic_batcher.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/batching/batch_policy.h"

namespace berth::worker {

namespace {

uint64_t Nanos(SteadyTime from, SteadyTime to) {
  return to > from ? std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count() : 0;
}

}  // namespace

DynamicBatcher::DynamicBatcher(const ModelConfig& config,
                               std::vector<std::unique_ptr<ModelInstance>> instances,
                               const Clock& clock)
    : config_(config), instances_(std::move(instances)), clock_(clock) {
  threads_.reserve(instances_.size());
  for (const auto& instance : instances_) {
    threads_.emplace_back([this, raw = instance.get()] { Loop(raw); });
  }
}

DynamicBatcher::~DynamicBatcher() { Stop(); }

void DynamicBatcher::Stop() {
  std::lock_guard stop_lock(stop_mu_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  // The instance threads are gone and Enqueue refuses: nothing else touches the queue.
  std::deque<Pending> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(queue_);
  }
  for (Pending& pending : queued) {
    pending.done(absl::UnavailableError("model is unloading"));
  }
}

void DynamicBatcher::Enqueue(InferRequest request, std::function<void(InferResult)> done) {
  std::unique_lock lock(mu_);
  if (stopping_ || threads_.empty()) {
    lock.unlock();
    done(absl::UnavailableError(stopping_ ? "model is unloading" : "model has no instances"));
    return;
  }
  const int64_t rows = request.batch_rows(config_);
  queue_.push_back(Pending{std::move(request), std::move(done), rows, clock_.Now()});
  lock.unlock();
  // One idle instance is enough: it takes everything that fits, and wakes another if it leaves
  // requests behind. When no instance is idle this costs no system call.
  cv_.notify_one();
}

BatcherStats DynamicBatcher::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void DynamicBatcher::Loop(ModelInstance* instance) {
  // The policy needs at most one request past a full batch to decide.
  const size_t view_limit =
      DynamicBatchingOn(config_) ? static_cast<size_t>(config_.max_batch_size) + 1 : 1;
  std::vector<QueuedRequest> view;
  std::vector<Pending> batch;
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    view.clear();
    for (size_t i = 0; i < queue_.size() && i < view_limit; ++i) {
      view.push_back({queue_[i].rows, queue_[i].enqueued});
    }
    const SteadyTime now = clock_.Now();
    const size_t run = BatchToRun(config_, view, now);
    for (size_t i = 0; i < run; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    const bool more = !queue_.empty();
    lock.unlock();
    if (more) cv_.notify_one();  // another idle instance takes what this batch left behind
    RunBatch(instance, batch, now);
    batch.clear();
    lock.lock();
  }
}

std::vector<InferResult> DynamicBatcher::Execute(ModelInstance* instance,
                                                 std::span<const InferRequest* const> requests) {
  std::vector<InferResult> results = instance->Execute(requests);
  if (results.size() != requests.size()) {
    absl::Status status = absl::InternalError(absl::StrCat(
        "backend returned ", results.size(), " results for ", requests.size(), " requests"));
    results.assign(requests.size(), status);
  }
  return results;
}

void DynamicBatcher::RunBatch(ModelInstance* instance, std::vector<Pending>& batch,
                              SteadyTime start) {
  std::vector<const InferRequest*> requests;
  requests.reserve(batch.size());
  for (const Pending& pending : batch) requests.push_back(&pending.request);

  std::vector<InferResult> results = Execute(instance, requests);
  SteadyTime end = clock_.Now();
  uint64_t executions = 1;
  std::vector<uint64_t> compute_ns(batch.size(), Nanos(start, end));

  bool all_failed = batch.size() > 1;
  for (const InferResult& result : results) all_failed = all_failed && !result.ok();
  if (all_failed) {
    // A whole-batch failure: find out which requests are bad by running each alone.
    for (size_t i = 0; i < batch.size(); ++i) {
      const SteadyTime alone_start = clock_.Now();
      std::vector<InferResult> alone = Execute(instance, std::span(&requests[i], 1));
      end = clock_.Now();
      compute_ns[i] += Nanos(alone_start, end);
      results[i] = std::move(alone.front());
      ++executions;
    }
  }

  {
    std::lock_guard lock(stats_mu_);
    stats_.execution_count += executions;
    for (size_t i = 0; i < batch.size(); ++i) {
      stats_.queue_ns += Nanos(batch[i].enqueued, start);
      stats_.compute_ns += compute_ns[i];
      if (results[i].ok()) {
        ++stats_.success;
        stats_.inference_count += static_cast<uint64_t>(batch[i].rows);
      } else {
        ++stats_.failure;
      }
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
}

}  // namespace berth::worker
