#include "worker/backend.h"

namespace berth::worker {

int64_t InferRequest::batch_rows(const ModelConfig& config) const {
  if (config.max_batch_size <= 0 || inputs.empty() || inputs.front().shape.empty()) return 1;
  return inputs.front().shape.front();
}

}  // namespace berth::worker
