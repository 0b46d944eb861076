#pragma once
// InferenceService: what berth-worker serves, independent of the wire. The REST adapter
// (worker/rest_api.h) and the gRPC adapter (worker/grpc/) are thin layers over it, so both
// protocols answer the same way.
//
// Errors: NOT_FOUND for an unknown model or version, INVALID_ARGUMENT for a request that does
// not fit the model (names the input), UNAVAILABLE for a model that is not ready, INTERNAL for
// a model that failed while running. Threading: every method may be called from any thread.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/backend.h"
#include "worker/model_config.h"

namespace berth::worker {

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct TensorMetadata {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;  // -1: variable (the batch dimension included when batching)
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // loaded versions, newest first
  std::string platform;
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;               // the request's id, echoed
  std::vector<Tensor> outputs;  // those requested, in the order asked (all, in config order)
};

using InferCallback = std::function<void(absl::StatusOr<InferResponse>)>;

class InferenceService {
 public:
  virtual ~InferenceService() = default;

  virtual bool Live() const = 0;
  // Every model of the repository has its versions loaded.
  virtual bool Ready() const = 0;
  virtual ServerMetadata Metadata() const = 0;
  // `version` "" means the newest loaded version.
  virtual absl::StatusOr<ModelMetadata> GetModelMetadata(std::string_view model,
                                                         std::string_view version) const = 0;
  virtual absl::StatusOr<bool> ModelReady(std::string_view model,
                                          std::string_view version) const = 0;
  // The configuration of a loaded model; the pointer stays valid while the service lives.
  virtual absl::StatusOr<const ModelConfig*> GetModelConfig(std::string_view model) const = 0;
  // The model /score serves: the only model of the repository; NOT_FOUND when there are several.
  virtual absl::StatusOr<std::string> DefaultModel() const = 0;

  // Checks `request` against the model and queues it for the dynamic batcher. `done` runs
  // exactly once: inline when the request is rejected at once, else on a batcher thread.
  virtual void Infer(std::string_view model, std::string_view version, InferRequest request,
                     InferCallback done) = 0;
};

}  // namespace berth::worker
