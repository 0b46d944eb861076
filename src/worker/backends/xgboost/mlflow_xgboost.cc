#include "worker/backends/xgboost/mlflow_xgboost.h"

#include <yaml-cpp/yaml.h>

#include <exception>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace berth::worker {
namespace {

constexpr int kMaxBatchSize = 65536;

absl::StatusOr<YAML::Node> LoadMlmodel(const std::filesystem::path& dir) {
  const std::filesystem::path file = dir / "MLmodel";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(file.string(), " does not exist"));
  }
  try {
    return YAML::LoadFile(file.string());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file.string(), ": ", e.what()));
  }
}

// The number of features and column names that signature.inputs describes: a column-based
// schema ([{"name": "a", "type": "double"}, ...]) or one tensor ({"type": "tensor",
// "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}).
absl::Status ReadSignature(const std::string& text, int64_t* num_features,
                           std::vector<std::string>* columns) {
  nlohmann::json inputs = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (inputs.is_discarded() || !inputs.is_array()) {
    return absl::InvalidArgumentError("MLmodel: signature.inputs is not a JSON list");
  }
  if (inputs.size() == 1 && inputs[0].is_object() && inputs[0].value("type", "") == "tensor") {
    const nlohmann::json& spec = inputs[0].value("tensor-spec", nlohmann::json::object());
    const nlohmann::json& shape = spec.value("shape", nlohmann::json::array());
    if (!shape.is_array() || shape.empty() || shape.size() > 2 || !shape.back().is_number()) {
      return absl::InvalidArgumentError(
          "MLmodel: signature.inputs tensor-spec should have shape [-1, num_features]");
    }
    *num_features = shape.back().get<int64_t>();
    return absl::OkStatus();
  }
  for (const nlohmann::json& column : inputs) {
    if (!column.is_object()) {
      return absl::InvalidArgumentError("MLmodel: signature.inputs holds a non-object");
    }
    if (column.value("type", "") == "tensor") {
      return absl::InvalidArgumentError(
          "MLmodel: signature.inputs has several tensors; the xgboost flavor takes one");
    }
    columns->push_back(column.value("name", std::string()));
  }
  *num_features = static_cast<int64_t>(columns->size());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MlflowXgboost> ReadMlflowXgboost(const std::filesystem::path& dir,
                                                std::string name) {
  auto root = LoadMlmodel(dir);
  if (!root.ok()) return root.status();
  MlflowXgboost result;
  int64_t num_features = -1;
  try {
    YAML::Node flavor = (*root)["flavors"]["xgboost"];
    if (!flavor || !flavor.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat((dir / "MLmodel").string(), " has no xgboost flavor"));
    }
    if (!flavor["data"]) {
      return absl::InvalidArgumentError(
          absl::StrCat((dir / "MLmodel").string(), ": flavors.xgboost has no data file"));
    }
    result.config.default_model_filename = flavor["data"].as<std::string>();
    result.model_class =
        flavor["model_class"] ? flavor["model_class"].as<std::string>() : "xgboost.core.Booster";
    if (flavor["xgb_version"]) result.xgb_version = flavor["xgb_version"].as<std::string>();
    YAML::Node inputs = (*root)["signature"]["inputs"];
    if (inputs && inputs.IsScalar()) {
      absl::Status status = ReadSignature(inputs.as<std::string>(), &num_features, &result.columns);
      if (!status.ok()) return status;
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat((dir / "MLmodel").string(), ": ", e.what()));
  }

  result.model_file = dir / result.config.default_model_filename;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(result.model_file, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model file ", result.model_file.string(), " does not exist"));
  }

  ModelConfig& config = result.config;
  config.name = std::move(name);
  config.backend = "xgboost";
  config.max_batch_size = kMaxBatchSize;
  config.dynamic_batching_enabled = false;
  config.inputs.push_back({"input", DataType::kFp32, {num_features}});
  config.outputs.push_back({"predictions", DataType::kFp32, {-1}});
  if (absl::EndsWith(result.model_class, "Classifier")) {
    config.parameters["output_kind"] = "label";
  }
  if (absl::StartsWith(result.model_class, "xgboost.sklearn.")) {
    config.parameters["use_best_iteration"] = "true";
  }
  return result;
}

bool IsMlflowXgboost(const std::filesystem::path& dir) {
  auto root = LoadMlmodel(dir);
  if (!root.ok()) return false;
  try {
    YAML::Node flavor = (*root)["flavors"]["xgboost"];
    return flavor && flavor.IsMap();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace berth::worker
