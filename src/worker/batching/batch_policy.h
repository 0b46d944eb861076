#pragma once
// BatchPolicy: which queued requests a free model instance runs. A pure function of the queue,
// the configuration and the time, so every rule is unit-tested without threads or sleeps.
//
// The batcher is work-conserving: an instance that is free and sees requests queued always runs
// some of them at once; it never waits for more to arrive. Batches therefore form from what
// queued while every instance was busy. Rules, with dynamic batching on and max_batch_size > 0:
// requests leave the queue in order and never split; a free instance takes
//   (a) the longest prefix of the queue that fits in max_batch_size rows, except that
//   (b) when a shorter prefix is one of preferred_batch_sizes (max_batch_size counts as one),
//       the largest such prefix runs instead, provided the requests it leaves behind have all
//       waited less than max_queue_delay. A request is never held back past the delay for the
//       sake of a preferred size; with delay 0, preferred sizes never hold anything back.
// Otherwise (no dynamic batching, or no batch dimension) each request runs alone.

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

// Whether `config` batches requests together at all.
bool DynamicBatchingOn(const ModelConfig& config);

// How many requests from the head of `queue` (oldest first) a free instance runs at `now`;
// 0 only when `queue` is empty. `queue` may be a prefix of the real one as long as it holds more
// than max_batch_size rows when the real one does.
size_t BatchToRun(const ModelConfig& config, std::span<const QueuedRequest> queue, SteadyTime now);

}  // namespace berth::worker
