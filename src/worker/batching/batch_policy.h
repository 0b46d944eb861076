#pragma once
// BatchPolicy: when the dynamic batcher runs a batch, and of which queued requests. A pure
// function of the queue, the configuration and the time, so every rule is unit-tested without
// threads or sleeps.
//
// Rules (Triton's dynamic batcher): requests leave the queue in order and never split. With
// dynamic batching on and max_batch_size > 0 a batch runs as soon as
//   (a) it holds max_batch_size rows;
//   (b) it holds one of preferred_batch_sizes and nothing more that would fit is queued (when
//       the queue holds more than fits, the largest preferred size reachable wins);
//   (c) the oldest request has waited max_queue_delay: then whatever fits runs.
// A batch that cannot grow (the next request would overflow it) runs at once. Otherwise each
// request runs alone, at once.

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/clock.h"
#include "worker/model_config.h"

namespace berth::worker {

// What the policy sees of one queued request.
struct QueuedRequest {
  int64_t rows = 1;  // InferRequest::batch_rows
  SteadyTime enqueued;
};

struct BatchDecision {
  // > 0: run the first `run` queued requests now.
  size_t run = 0;
  // run == 0: decide again at this time, or when the queue changes (max(): only then).
  SteadyTime wake_at = SteadyTime::max();
};

// Whether `config` batches requests together at all.
bool DynamicBatchingOn(const ModelConfig& config);

// The decision for `queue` (oldest first) at `now`. The queue may be a prefix of the real one
// as long as it holds more than max_batch_size rows when the real one does.
BatchDecision DecideBatch(const ModelConfig& config, std::span<const QueuedRequest> queue,
                          SteadyTime now);

}  // namespace berth::worker
