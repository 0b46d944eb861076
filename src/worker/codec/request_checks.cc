#include "worker/codec/request_checks.h"

#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/codec/str.h"

namespace berth::worker {

namespace {

using codec_internal::Cat;

const TensorConfig* FindConfig(const std::vector<TensorConfig>& tensors, std::string_view name) {
  for (const TensorConfig& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::string Names(const std::vector<TensorConfig>& tensors) {
  std::vector<std::string> quoted;
  for (const TensorConfig& t : tensors) quoted.push_back(Cat("'", t.name, "'"));
  return absl::StrJoin(quoted, ", ");
}

// "[-1,3]" with -1 for variable dimensions, as clients see them in model metadata.
std::string Expected(const ModelConfig& config, const TensorConfig& t) {
  std::vector<int64_t> full;
  if (config.max_batch_size > 0) full.push_back(-1);
  full.insert(full.end(), t.dims.begin(), t.dims.end());
  return ShapeString(full);
}

bool DimsMatch(std::span<const int64_t> shape, std::span<const int64_t> dims) {
  if (shape.size() != dims.size()) return false;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] != -1 && dims[i] != shape[i]) return false;
  }
  return true;
}

}  // namespace

absl::Status CheckInferRequest(const InferRequest& request, const ModelConfig& config) {
  std::vector<const Tensor*> given(config.inputs.size(), nullptr);
  for (const Tensor& t : request.inputs) {
    const TensorConfig* c = FindConfig(config.inputs, t.name);
    if (c == nullptr) {
      return absl::InvalidArgumentError(Cat("unknown input '", t.name, "' for model '", config.name,
                                            "'; it takes ", Names(config.inputs)));
    }
    const size_t index = static_cast<size_t>(c - config.inputs.data());
    if (given[index] != nullptr) {
      return absl::InvalidArgumentError(Cat("input '", t.name, "' is given more than once"));
    }
    given[index] = &t;
  }

  const Tensor* batch_from = nullptr;  // the input that set the batch size
  for (size_t i = 0; i < config.inputs.size(); ++i) {
    const TensorConfig& c = config.inputs[i];
    const Tensor* t = given[i];
    if (t == nullptr) return absl::InvalidArgumentError(Cat("missing input '", c.name, "'"));
    if (t->datatype != c.datatype) {
      return absl::InvalidArgumentError(Cat("input '", c.name, "': datatype ",
                                            DataTypeName(t->datatype), ", model expects ",
                                            DataTypeName(c.datatype)));
    }
    std::span<const int64_t> shape = t->shape;
    if (config.max_batch_size > 0) {
      if (shape.empty()) {
        return absl::InvalidArgumentError(Cat("input '", c.name,
                                              "': shape [] has no batch "
                                              "dimension; model expects ",
                                              Expected(config, c)));
      }
      const int64_t batch = shape[0];
      if (batch < 1 || batch > config.max_batch_size) {
        return absl::InvalidArgumentError(Cat("input '", c.name, "': batch size ", batch,
                                              " is outside 1..", config.max_batch_size,
                                              " (max_batch_size)"));
      }
      if (batch_from != nullptr && batch_from->shape[0] != batch) {
        return absl::InvalidArgumentError(Cat("input '", c.name, "': batch size ", batch,
                                              " differs from input '", batch_from->name, "' (",
                                              batch_from->shape[0], ")"));
      }
      if (batch_from == nullptr) batch_from = t;
      shape = shape.subspan(1);
    }
    if (!DimsMatch(shape, c.dims)) {
      return absl::InvalidArgumentError(Cat("input '", c.name, "': shape ", ShapeString(t->shape),
                                            " does not match ", Expected(config, c),
                                            " (-1: any size)"));
    }
    RETURN_IF_ERROR(CheckTensorSize(*t));  // names the tensor
  }

  for (const std::string& name : request.requested_outputs) {
    if (FindConfig(config.outputs, name) == nullptr) {
      return absl::InvalidArgumentError(Cat("unknown output '", name, "' for model '", config.name,
                                            "'; it has ", Names(config.outputs)));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::worker
