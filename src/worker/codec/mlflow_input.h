#pragma once
// MLflow's scoring-server request formats (POST /score on a native MLflow deployment), turned
// into the FP32 [rows, features] tensor a tabular model (XGBoost) takes, and its predictions
// back into MLflow's bare JSON list.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tensor.h"

namespace berth::worker {

struct MlflowInputSpec {
  // Input column names in the model's order, from the MLmodel signature; empty when unknown.
  std::vector<std::string> columns;
  int64_t num_features = -1;  // -1: unknown
  std::string tensor_name = "input";
};

// Accepts exactly one of:
//   input_data         {"columns": [...], "index"?: [...], "data": [[...], ...]} or [[...], ...]
//   dataframe_split    {"columns"?: [...], "index"?: [...], "data": [[...], ...]}
//   dataframe_records  [{"col": v, ...}, ...]
//   instances          [[...], ...] or [{"col": v, ...}, ...]
//   inputs             [[...], ...] (also records, or {"col": [v, ...], ...})
// (Each also takes the forms of the others where unambiguous.) Named columns are put in
// `spec.columns` order when it is known (extra ones are ignored), else kept in the order given;
// rows of bare lists are positional. Values are numbers, booleans (1/0) or null (NaN, which XGBoost
// reads as missing). Errors are INVALID_ARGUMENT: "missing column 'f3'", "column 'f1', row 2:
// \"abc\" is not a number", a row of the wrong length.
absl::StatusOr<Tensor> DecodeMlflowInput(std::string_view body, const MlflowInputSpec& spec);

// The predictions as MLflow answers them: a bare JSON list, nested by the output's shape (1-D:
// [..]; 2-D: [[..], ..]); integers for integer outputs.
std::string EncodeMlflowPredictions(const Tensor& output);

}  // namespace berth::worker
