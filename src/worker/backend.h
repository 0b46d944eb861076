#pragma once
// Backend: one model format berth-worker can host (TorchScript, XGBoost, a fake for tests).
// A backend loads a model version into ModelInstances; each instance runs batches of requests.
//
// Ownership: the worker owns backends and instances. Threading: Backend::Load may be called
// from any thread; each ModelInstance is driven by one thread at a time (the batcher gives every
// instance_group copy its own thread). Errors are values: framework exceptions stop inside the
// backend and come back as absl::Status.

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model_config.h"
#include "worker/tensor.h"

namespace berth::worker {

// One inference request after the protocol layer decoded it and checked it against the model's
// configuration: inputs carry the configured names, datatypes and dimensions (with the batch
// dimension first when max_batch_size > 0, 1 <= batch <= max_batch_size).
struct InferRequest {
  std::string id;
  std::vector<Tensor> inputs;
  std::vector<std::string> requested_outputs;  // empty: all outputs

  // Rows this request contributes to a batch: the first input's first dimension when the model
  // batches, else 1.
  int64_t batch_rows(const ModelConfig& config) const;
};

// A request's outputs (every configured output; the service keeps those requested), or why
// it failed.
using InferResult = absl::StatusOr<std::vector<Tensor>>;

// One result per request of a batch: `status` for every one (a whole-batch failure), else the
// requests' outputs in order.
std::vector<InferResult> PerRequestResults(
    size_t batch_size, absl::StatusOr<std::vector<std::vector<Tensor>>> outputs);

class ModelInstance {
 public:
  virtual ~ModelInstance() = default;

  // Runs `batch` as one execution where the model allows it. Returns exactly one result per
  // request, in order. A request the backend cannot run fails alone (INVALID_ARGUMENT for bad
  // data, INTERNAL for a model error). The summed rows never exceed max_batch_size (or 1 request
  // when the model does not batch).
  virtual std::vector<InferResult> Execute(std::span<const InferRequest* const> batch) = 0;
};

struct LoadRequest {
  const ModelConfig* config = nullptr;
  std::filesystem::path version_dir;  // <repository>/<model>/<version>
  int64_t version = 1;
  int intra_op_threads = 1;  // threads a backend may use inside one execution
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Loads one copy of the model. A missing or unreadable file is FAILED_PRECONDITION naming the
  // path; a model that does not match the configuration is INVALID_ARGUMENT saying how.
  virtual absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const LoadRequest& request) = 0;
};

}  // namespace berth::worker
