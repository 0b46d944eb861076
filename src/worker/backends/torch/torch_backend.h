#pragma once
// The TorchScript backend: serves `platform: "pytorch_libtorch"` / `backend: "pytorch"` models, a
// module saved with torch.jit.save at <version_dir>/<default_model_filename or "model.pt">.
//
// This header keeps libtorch's headers out of its includers (only torch_backend.cc sees them).

#include <memory>

#include "worker/backend.h"

namespace berth::worker {

// A backend named "pytorch". Each Load reads its own copy of the module (one per instance), in
// eval mode; executions run under c10::InferenceMode.
//
// Threads: libtorch's intra-op pool is process-wide, so Load sets it to the request's
// intra_op_threads (or the model's config parameter INTRA_OP_THREAD_COUNT, Triton's name), and
// sets inter-op threads to 1 once per process.
std::unique_ptr<Backend> MakeTorchBackend();

}  // namespace berth::worker
