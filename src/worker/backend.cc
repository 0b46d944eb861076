#include "worker/backend.h"

namespace berth::worker {

int64_t InferRequest::batch_rows(const ModelConfig& config) const {
  if (config.max_batch_size <= 0 || inputs.empty() || inputs.front().shape.empty()) return 1;
  return inputs.front().shape.front();
}

std::vector<InferResult> PerRequestResults(
    size_t batch_size, absl::StatusOr<std::vector<std::vector<Tensor>>> outputs) {
  std::vector<InferResult> results;
  results.reserve(batch_size);
  if (!outputs.ok()) {
    results.assign(batch_size, outputs.status());
    return results;
  }
  for (auto& r : *outputs) results.emplace_back(std::move(r));
  return results;
}

}  // namespace berth::worker
