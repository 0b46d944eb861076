#pragma once
// A model's configuration as berth honours it: Triton's config.pbtxt fields that berth-worker
// implements (docs/worker.md lists them). Parsed from protobuf text format with berth's own
// message (worker/model_config.proto); every other field present is kept as a warning.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/tensor.h"

namespace berth::worker {

struct TensorConfig {
  std::string name;
  DataType datatype = DataType::kFp32;
  // Without the batch dimension when max_batch_size > 0; -1 marks a variable dimension.
  std::vector<int64_t> dims;
};

struct DynamicBatchingConfig {
  std::vector<int> preferred_batch_sizes;
  std::chrono::microseconds max_queue_delay{0};
};

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int latest_count = 1;           // kLatest
  std::vector<int64_t> versions;  // kSpecific
};

struct ModelConfig {
  std::string name;
  std::string platform;  // as written, e.g. "pytorch_libtorch"
  // The berth backend that serves it: "pytorch", "xgboost" or "fake" (resolved from platform
  // or backend by ParseModelConfig).
  std::string backend;
  int max_batch_size = 0;  // 0: the model takes no batch dimension
  std::vector<TensorConfig> inputs;
  std::vector<TensorConfig> outputs;
  bool dynamic_batching_enabled = false;
  DynamicBatchingConfig dynamic_batching;
  int instance_count = 1;  // instance_group[*].count summed (KIND_CPU)
  VersionPolicy version_policy;
  std::string default_model_filename;
  std::map<std::string, std::string> parameters;  // parameters { key: ... value { string_value } }
};

struct ParsedModelConfig {
  ModelConfig config;
  std::vector<std::string> warnings;  // "config.pbtxt: field 'optimization' is not honoured"
};

// Parses config.pbtxt text for the model in folder `model_name`. Errors are INVALID_ARGUMENT
// naming the field (e.g. "config.pbtxt: platform 'tensorflow_savedmodel' is not supported;
// berth-worker serves pytorch_libtorch and backend xgboost").
absl::StatusOr<ParsedModelConfig> ParseModelConfig(std::string_view text,
                                                   std::string_view model_name);

// The model's inputs as clients must send them: with the batch dimension (-1) first when
// max_batch_size > 0.
std::vector<int64_t> FullShape(const ModelConfig& config, const TensorConfig& tensor);

}  // namespace berth::worker
