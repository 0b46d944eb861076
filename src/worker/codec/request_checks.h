#pragma once
// Checks a decoded inference request against the model's configuration before it is queued, so
// a bad request fails alone with a message naming the input instead of failing a whole batch.

#include "absl/status/status.h"
#include "worker/backend.h"
#include "worker/model_config.h"

namespace berth::worker {

// OK when every configured input is present exactly once with the configured datatype and a
// shape its dims allow (the batch dimension first, 1..max_batch_size and equal across inputs,
// when the model batches), its bytes fit that shape, and every requested output exists.
// Otherwise INVALID_ARGUMENT naming the input or output.
absl::Status CheckInferRequest(const InferRequest& request, const ModelConfig& config);

}  // namespace berth::worker
