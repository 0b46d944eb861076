#include "worker/batching/batch_policy.h"

#include <algorithm>

namespace berth::worker {

bool DynamicBatchingOn(const ModelConfig& config) {
  return config.dynamic_batching_enabled && config.max_batch_size > 0;
}

size_t BatchToRun(const ModelConfig& config, std::span<const QueuedRequest> queue, SteadyTime now) {
  if (queue.empty()) return 0;
  if (!DynamicBatchingOn(config)) return 1;
  const int64_t max_rows = config.max_batch_size;
  // A request as large as a batch (or larger: the backend rejects it) runs on its own.
  if (queue[0].rows >= max_rows) return 1;

  const std::vector<int>& preferred = config.dynamic_batching.preferred_batch_sizes;
  int64_t rows = 0;
  size_t fit = 0;           // requests that fit, from the head
  size_t preferred_at = 0;  // the longest prefix whose rows are a preferred size
  for (; fit < queue.size() && rows + queue[fit].rows <= max_rows; ++fit) {
    rows += queue[fit].rows;
    if (rows == max_rows ||
        std::find(preferred.begin(), preferred.end(), rows) != preferred.end()) {
      preferred_at = fit + 1;
    }
  }
  if (preferred_at == 0 || preferred_at == fit) return fit;  // (a)
  // (b) would leave queue[preferred_at..fit) behind; the oldest of them is the first.
  const bool left_behind_is_young =
      now - queue[preferred_at].enqueued < config.dynamic_batching.max_queue_delay;
  return left_behind_is_young ? preferred_at : fit;
}

}  // namespace berth::worker
