#pragma once
// MLflow models saved with the xgboost flavor (mlflow.xgboost.save_model / log_model), served
// natively by the xgboost backend without Python.
//
// An MLflow model folder holds an MLmodel file (YAML) naming the flavor's data file:
//   flavors:
//     xgboost: {data: model.xgb, model_class: xgboost.sklearn.XGBClassifier, xgb_version: 1.7.4}
//   signature:
//     inputs: '[{"name": "a", "type": "double"}, ...]'   (a JSON string)
//
// To load it: LoadRequest{.config = &m.config, .version_dir = dir} with MakeXgboostBackend();
// config.default_model_filename is the flavor's data file, relative to `dir`.

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model_config.h"

namespace berth::worker {

struct MlflowXgboost {
  // backend "xgboost"; max_batch_size 65536 with dynamic batching off; one input "input" FP32
  // [num_features] (-1 when the model has no signature); one output "predictions" FP32 [-1].
  // parameters: output_kind "label" for classifiers (model_class ending in "Classifier"), so
  // predictions equal the class's predict(); use_best_iteration "true" for the scikit-learn
  // wrappers, which predict with the best iteration after early stopping.
  ModelConfig config;
  std::vector<std::string> columns;  // the signature's column names, in order (may be empty)
  std::filesystem::path model_file;  // <dir>/<flavors.xgboost.data>
  std::string model_class;           // e.g. "xgboost.sklearn.XGBClassifier"
  std::string xgb_version;           // the version that saved it, as MLmodel says
};

// Reads <dir>/MLmodel. FAILED_PRECONDITION when MLmodel or the data file is missing;
// INVALID_ARGUMENT when it has no xgboost flavor or an unreadable signature.
absl::StatusOr<MlflowXgboost> ReadMlflowXgboost(const std::filesystem::path& dir, std::string name);

// Whether <dir>/MLmodel exists and has an xgboost flavor.
bool IsMlflowXgboost(const std::filesystem::path& dir);

}  // namespace berth::worker
