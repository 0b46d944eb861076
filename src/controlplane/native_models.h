#pragma once
// Models that berth-worker serves natively: Triton model repositories (model.type
// triton_model) and MLflow models with an xgboost flavor. The control plane checks them when a
// deployment is written, so a bad config.pbtxt is a 400 naming it rather than a failed start.

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/mlflow_flavor.h"

namespace berth::controlplane {

using core::IsNativeMlflow;

// Reads the Triton repository in `model_dir` (the uploaded folder) as berth-worker will:
// INVALID_ARGUMENT / NOT_FOUND naming the model and field; fields berth-worker does not honour
// are appended to `warnings`.
absl::Status CheckTritonRepository(const std::filesystem::path& model_dir,
                                   std::vector<std::string>* warnings);

}  // namespace berth::controlplane
