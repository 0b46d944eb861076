#include "worker/backends/xgboost/xgboost_backend.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace berth::worker {
namespace {

constexpr std::array<const char*, 5> kModelFileNames = {"model.json", "model.ubj", "model.xgb",
                                                        "model.bin", "xgboost.model"};

// XGBoost's message without the native stack trace that follows it.
std::string LastError() {
  std::string message = XGBGetLastError();
  if (size_t end = message.find('\n'); end != std::string::npos) message.resize(end);
  return message;
}

// Owns a BoosterHandle.
class Booster {
 public:
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() {
    if (handle_ != nullptr) XGBoosterFree(handle_);
  }
  BoosterHandle* out() { return &handle_; }
  BoosterHandle get() const { return handle_; }

 private:
  BoosterHandle handle_ = nullptr;
};

class XgboostInstance : public ModelInstance {
 public:
  XgboostInstance(ModelConfig config, std::unique_ptr<Booster> booster, int64_t num_features,
                  int iteration_end, bool labels, bool softmax)
      : config_(std::move(config)),
        booster_(std::move(booster)),
        num_features_(num_features),
        labels_(labels),
        softmax_(softmax) {
    // Default (non-margin) predictions, shaped as xgboost's Python predict shapes them.
    predict_config_ =
        absl::StrCat(R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": )",
                     iteration_end, R"(, "strict_shape": false, "missing": NaN, "cache_id": 0})");
  }

  std::vector<InferResult> Execute(std::span<const InferRequest* const> batch) override {
    auto outputs = Run(batch);
    if (!outputs.ok()) return PerRequestResults(batch.size(), outputs.status());
    std::vector<std::vector<Tensor>> per_request;
    per_request.reserve(outputs->size());
    for (Tensor& out : *outputs) per_request.push_back({std::move(out)});
    return PerRequestResults(batch.size(), std::move(per_request));
  }

 private:
  absl::StatusOr<std::vector<Tensor>> Run(std::span<const InferRequest* const> batch) {
    const std::string& input_name = config_.inputs[0].name;
    std::vector<const Tensor*> parts;
    std::vector<int64_t> rows;
    parts.reserve(batch.size());
    rows.reserve(batch.size());
    int64_t total_rows = 0;
    for (const InferRequest* request : batch) {
      const Tensor* t = nullptr;
      for (const Tensor& candidate : request->inputs) {
        if (candidate.name == input_name) t = &candidate;
      }
      if (t == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("request '", request->id, "' lacks input '", input_name, "'"));
      }
      if (t->datatype != DataType::kFp32 || t->shape.empty() || t->shape.size() > 2) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", input_name, "' is ", std::string(DataTypeName(t->datatype)),
                         ShapeString(t->shape), "; the model takes FP32 [rows, features]"));
      }
      const int64_t features = t->shape.back();
      const int64_t n = t->shape.size() == 2 ? t->shape[0] : 1;
      if (features != num_features_ ||
          t->data.size() != static_cast<size_t>(n * features) * sizeof(float)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "input '", input_name, "' has shape ", ShapeString(t->shape), " and ", t->data.size(),
            " bytes; the model takes ", num_features_, " features per row"));
      }
      parts.push_back(t);
      rows.push_back(n);
      total_rows += n;
    }

    const float* data = nullptr;
    if (parts.size() == 1) {
      data = parts[0]->as<float>();
    } else {
      joined_.resize(total_rows * num_features_);
      float* out = joined_.data();
      for (const Tensor* t : parts) {
        std::memcpy(out, t->data.data(), t->data.size());
        out += t->data.size() / sizeof(float);
      }
      data = joined_.data();
    }

    const bst_ulong* out_shape = nullptr;
    bst_ulong out_dim = 0;
    const float* out_result = nullptr;
    std::vector<int64_t> shape;
    if (total_rows > 0) {
      const std::string array =
          absl::StrCat(R"({"data": [)", reinterpret_cast<uintptr_t>(data), R"(, true], "shape": [)",
                       total_rows, ", ", num_features_, R"(], "typestr": "<f4", "version": 3})");
      if (XGBoosterPredictFromDense(booster_->get(), array.c_str(), predict_config_.c_str(),
                                    nullptr, &out_shape, &out_dim, &out_result) != 0) {
        return absl::InternalError(
            absl::StrCat("model '", config_.name, "': xgboost predict: ", LastError()));
      }
      shape.assign(out_shape, out_shape + out_dim);
    } else {
      shape = {0};
    }
    if (shape.empty() || shape[0] != total_rows || shape.size() > 2) {
      return absl::InternalError(absl::StrCat("model '", config_.name, "': xgboost returned shape ",
                                              ShapeString(shape), " for ", total_rows, " rows"));
    }
    const int64_t per_row = shape.size() == 2 ? shape[1] : 1;

    std::vector<float> labels;
    if (labels_) {
      labels.resize(total_rows);
      for (int64_t r = 0; r < total_rows; ++r) {
        const float* row = out_result + r * per_row;
        if (per_row > 1) {
          labels[r] = static_cast<float>(std::max_element(row, row + per_row) - row);
        } else if (softmax_) {
          labels[r] = row[0];  // multi:softmax already predicts the class
        } else {
          labels[r] = row[0] > 0.5f ? 1.0f : 0.0f;
        }
      }
      out_result = labels.data();
      shape = {total_rows};
    }
    const int64_t values_per_row = labels_ ? 1 : per_row;

    const std::string& output_name = config_.outputs[0].name;
    std::vector<Tensor> outputs;
    outputs.reserve(batch.size());
    const char* bytes = reinterpret_cast<const char*>(out_result);
    for (int64_t n : rows) {
      Tensor& out = outputs.emplace_back();
      out.name = output_name;
      out.datatype = DataType::kFp32;
      out.shape = shape;
      out.shape[0] = n;
      const size_t size = n * values_per_row * sizeof(float);
      out.data.assign(bytes, size);
      bytes += size;
    }
    return outputs;
  }

  const ModelConfig config_;
  std::unique_ptr<Booster> booster_;
  int64_t num_features_;
  bool labels_;
  bool softmax_;
  std::string predict_config_;
  std::vector<float> joined_;  // a multi-request batch's rows, reused across executions
};

absl::StatusOr<std::filesystem::path> FindModelFile(const LoadRequest& request) {
  const ModelConfig& config = *request.config;
  std::error_code ec;
  if (!config.default_model_filename.empty()) {
    std::filesystem::path file = request.version_dir / config.default_model_filename;
    if (!std::filesystem::is_regular_file(file, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("model file ", file.string(), " does not exist"));
    }
    return file;
  }
  for (const char* name : kModelFileNames) {
    std::filesystem::path file = request.version_dir / name;
    if (std::filesystem::is_regular_file(file, ec)) return file;
  }
  return absl::FailedPreconditionError(absl::StrCat("no XGBoost model file in ",
                                                    request.version_dir.string(), " (tried ",
                                                    absl::StrJoin(kModelFileNames, ", "), ")"));
}

class XgboostBackend : public Backend {
 public:
  std::string_view name() const override { return "xgboost"; }

  absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const LoadRequest& request) override {
    const ModelConfig& config = *request.config;
    if (config.inputs.size() != 1 || config.inputs[0].datatype != DataType::kFp32) {
      return absl::InvalidArgumentError(
          "the xgboost backend takes exactly one FP32 input (the feature rows)");
    }
    if (config.outputs.size() != 1 || config.outputs[0].datatype != DataType::kFp32) {
      return absl::InvalidArgumentError(
          "the xgboost backend gives exactly one FP32 output (the predictions)");
    }
    const TensorConfig& input = config.inputs[0];
    const bool dims_ok = config.max_batch_size > 0
                             ? input.dims.size() == 1
                             : (input.dims.size() == 1 || input.dims.size() == 2);
    if (!dims_ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("input '", input.name, "': dims ", ShapeString(input.dims), " should be ",
                       config.max_batch_size > 0 ? "[num_features]" : "[rows, num_features]"));
    }

    bool labels = false;
    if (auto it = config.parameters.find("output_kind"); it != config.parameters.end()) {
      if (it->second == "label") {
        labels = true;
      } else if (it->second != "prediction" && !it->second.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("parameter output_kind: '", it->second,
                                                       "' is not one of 'label', 'prediction'"));
      }
    }
    bool use_best_iteration = false;
    if (auto it = config.parameters.find("use_best_iteration"); it != config.parameters.end()) {
      use_best_iteration = it->second == "true" || it->second == "1";
    }

    ASSIGN_OR_RETURN(std::filesystem::path file, FindModelFile(request));
    auto booster = std::make_unique<Booster>();
    if (XGBoosterCreate(nullptr, 0, booster->out()) != 0) {
      return absl::InternalError(absl::StrCat("xgboost: ", LastError()));
    }
    if (XGBoosterLoadModel(booster->get(), file.string().c_str()) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load XGBoost model ", file.string(), ": ", LastError()));
    }
    const std::string threads = std::to_string(std::max(1, request.intra_op_threads));
    if (XGBoosterSetParam(booster->get(), "nthread", threads.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("xgboost: setting nthread: ", LastError()));
    }

    bst_ulong model_features = 0;
    if (XGBoosterGetNumFeature(booster->get(), &model_features) != 0) {
      return absl::InternalError(absl::StrCat("xgboost: ", LastError()));
    }
    const int64_t configured = input.dims.back();
    if (configured >= 0 && configured != static_cast<int64_t>(model_features)) {
      return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "' has ", configured,
                                                     " features, the model in ", file.string(),
                                                     " takes ", model_features));
    }

    int iteration_end = 0;  // all trees
    if (use_best_iteration) {
      const char* value = nullptr;
      int found = 0;
      if (XGBoosterGetAttr(booster->get(), "best_iteration", &value, &found) != 0) {
        return absl::InternalError(absl::StrCat("xgboost: ", LastError()));
      }
      if (found && value != nullptr) {
        int best = 0;
        std::string_view s(value);
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), best);
        if (ec == std::errc() && best >= 0) iteration_end = best + 1;
      }
    }

    bool softmax = false;
    bst_ulong json_length = 0;
    const char* json = nullptr;
    if (XGBoosterSaveJsonConfig(booster->get(), &json_length, &json) == 0) {
      nlohmann::json parsed = nlohmann::json::parse(std::string(json, json_length), nullptr,
                                                    /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) {
        const auto* objective = &parsed;
        for (const char* key : {"learner", "objective", "name"}) {
          if (!objective->is_object() || !objective->contains(key)) {
            objective = nullptr;
            break;
          }
          objective = &(*objective)[key];
        }
        softmax = objective != nullptr && objective->is_string() &&
                  objective->get<std::string>() == "multi:softmax";
      }
    }

    return std::unique_ptr<ModelInstance>(std::make_unique<XgboostInstance>(
        config, std::move(booster), static_cast<int64_t>(model_features), iteration_end, labels,
        softmax));
  }
};

}  // namespace

std::unique_ptr<Backend> MakeXgboostBackend() { return std::make_unique<XgboostBackend>(); }

}  // namespace berth::worker
