#pragma once
// The XGBoost backend: serves `backend: "xgboost"` models through libxgboost's C API.
//
// Model file: config.default_model_filename if set, else the first of model.json, model.ubj,
// model.xgb, model.bin, xgboost.model in the version folder (JSON, UBJSON and the legacy binary
// format all load). The model takes one FP32 input of [num_features] per row (dims
// [num_features] with batching; [rows, num_features] or [num_features] without) and gives one
// FP32 output: [rows] for one value per row, [rows, k] for multi-class probabilities.
//
// Config parameters (config.parameters):
//   output_kind: "label" turns probabilities into class labels as XGBClassifier.predict does
//     (binary: p > 0.5 -> 1 else 0; multi-class: argmax); shape [rows]. Default: predictions.
//   use_best_iteration: "true" predicts with the trees up to the booster's best_iteration
//     attribute when it has one, as the scikit-learn wrappers do after early stopping.

#include <memory>

#include "worker/backend.h"

namespace berth::worker {

// A backend named "xgboost". Each Load reads its own booster (one per instance), using
// LoadRequest::intra_op_threads threads per prediction.
std::unique_ptr<Backend> MakeXgboostBackend();

}  // namespace berth::worker
