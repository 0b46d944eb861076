#include "worker/backends/torch/torch_backend.h"

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <charconv>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace berth::worker {
namespace {

std::optional<c10::ScalarType> TorchType(DataType type) {
  switch (type) {
    case DataType::kBool:
      return c10::ScalarType::Bool;
    case DataType::kUint8:
      return c10::ScalarType::Byte;
    case DataType::kInt8:
      return c10::ScalarType::Char;
    case DataType::kInt16:
      return c10::ScalarType::Short;
    case DataType::kInt32:
      return c10::ScalarType::Int;
    case DataType::kInt64:
      return c10::ScalarType::Long;
    case DataType::kFp16:
      return c10::ScalarType::Half;
    case DataType::kFp32:
      return c10::ScalarType::Float;
    case DataType::kFp64:
      return c10::ScalarType::Double;
    case DataType::kBf16:
      return c10::ScalarType::BFloat16;
    default:  // UINT16/32/64 have no libtorch 1.13 type; BYTES is not a tensor of numbers.
      return std::nullopt;
  }
}

// Python's spelling ("Float64"), which is what users see in their model code's dtypes.
std::string TorchTypeName(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Bool:
      return "Bool";
    case c10::ScalarType::Byte:
      return "UInt8";
    case c10::ScalarType::Char:
      return "Int8";
    case c10::ScalarType::Short:
      return "Int16";
    case c10::ScalarType::Int:
      return "Int32";
    case c10::ScalarType::Long:
      return "Int64";
    case c10::ScalarType::Half:
      return "Float16";
    case c10::ScalarType::Float:
      return "Float32";
    case c10::ScalarType::Double:
      return "Float64";
    case c10::ScalarType::BFloat16:
      return "BFloat16";
    default:
      return c10::toString(type);
  }
}

// The useful line of a libtorch exception: c10::Error carries a C++ backtrace, and errors
// raised inside TorchScript start with a generic banner and end with the Python-level error.
std::string ErrorLine(const std::exception& e) {
  std::string text;
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    text = c10_error->what_without_backtrace();
  } else {
    text = e.what();
  }
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(std::move(line));
    start = end + 1;
  }
  if (lines.empty()) return "unknown error";
  if (lines.front().starts_with("The following operation failed in the TorchScript interpreter")) {
    return lines.back();
  }
  return lines.front();
}

// Process-wide thread settings (see torch_backend.h).
void ConfigureThreads(int intra_op_threads) {
  static std::once_flag inter_op_once;
  std::call_once(inter_op_once, [] {
    try {
      // Throws once inter-op work has started; then the existing pool stays.
      at::set_num_interop_threads(1);
    } catch (const std::exception&) {
    }
  });
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (intra_op_threads > 0 && at::get_num_threads() != intra_op_threads) {
    at::set_num_threads(intra_op_threads);
  }
}

class TorchInstance : public ModelInstance {
 public:
  TorchInstance(const ModelConfig& config, torch::jit::Module module,
                std::vector<c10::ScalarType> input_types, std::vector<c10::ScalarType> output_types)
      : config_(config),
        module_(std::move(module)),
        forward_(module_.get_method("forward")),
        input_types_(std::move(input_types)),
        output_types_(std::move(output_types)) {}

  std::vector<InferResult> Execute(std::span<const InferRequest* const> batch) override {
    // OpenMP's thread count is per calling thread: a thread picks up set_num_threads' value
    // when it first runs parallel work, so a driver thread started before Load would not.
    thread_local bool threads_initialised = false;
    if (!threads_initialised) {
      at::init_num_threads();
      threads_initialised = true;
    }
    return PerRequestResults(batch.size(), Run(batch));
  }

 private:
  const Tensor* FindInput(const InferRequest& request, size_t index) const {
    const std::string& name = config_.inputs[index].name;
    // Requests usually list inputs in config order.
    if (index < request.inputs.size() && request.inputs[index].name == name) {
      return &request.inputs[index];
    }
    for (const Tensor& t : request.inputs) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  absl::StatusOr<torch::Tensor> InputTensor(std::span<const InferRequest* const> batch,
                                            size_t index) const {
    const TensorConfig& tc = config_.inputs[index];
    const size_t element_size = ElementSize(tc.datatype);
    std::vector<const Tensor*> parts;
    parts.reserve(batch.size());
    for (const InferRequest* request : batch) {
      const Tensor* t = FindInput(*request, index);
      if (t == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("request '", request->id, "' lacks input '", tc.name, "'"));
      }
      if (t->datatype != tc.datatype) {
        return absl::InvalidArgumentError(
            absl::StrCat("input '", tc.name, "' is ", std::string(DataTypeName(t->datatype)),
                         ", model takes ", std::string(DataTypeName(tc.datatype))));
      }
      if (t->data.size() != static_cast<size_t>(ElementCount(t->shape)) * element_size) {
        return absl::InvalidArgumentError(absl::StrCat("input '", tc.name, "': ", t->data.size(),
                                                       " bytes for shape ", ShapeString(t->shape)));
      }
      parts.push_back(t);
    }
    auto options = torch::TensorOptions().dtype(input_types_[index]);
    const Tensor& first = *parts.front();
    if (parts.size() == 1) {
      // The request outlives the execution: the model reads its bytes in place.
      return torch::from_blob(const_cast<char*>(first.data.data()), first.shape, options);
    }
    std::vector<int64_t> shape = first.shape;
    if (shape.empty()) return absl::InvalidArgumentError("batched input without dimensions");
    shape[0] = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      const Tensor& t = *parts[i];
      if (t.shape.size() != shape.size() ||
          !std::equal(t.shape.begin() + 1, t.shape.end(), shape.begin() + 1)) {
        return absl::InvalidArgumentError(absl::StrCat("input '", tc.name, "': cannot batch ",
                                                       ShapeString(t.shape), " with ",
                                                       ShapeString(first.shape)));
      }
      shape[0] += t.shape[0];
    }
    torch::Tensor whole = torch::empty(shape, options);
    char* out = static_cast<char*>(whole.data_ptr());
    for (const Tensor* t : parts) {
      std::memcpy(out, t->data.data(), t->data.size());
      out += t->data.size();
    }
    return whole;
  }

  absl::StatusOr<std::vector<std::vector<Tensor>>> Run(std::span<const InferRequest* const> batch) {
    const bool batching = config_.max_batch_size > 0;
    std::vector<int64_t> rows;
    rows.reserve(batch.size());
    int64_t total_rows = 0;
    for (const InferRequest* r : batch) {
      rows.push_back(r->batch_rows(config_));
      total_rows += rows.back();
    }
    if (!batching && batch.size() != 1) {
      return absl::InternalError("a model without batching runs one request at a time");
    }
    try {
      c10::InferenceMode guard;
      std::vector<c10::IValue> inputs;
      inputs.reserve(config_.inputs.size());
      for (size_t i = 0; i < config_.inputs.size(); ++i) {
        auto t = InputTensor(batch, i);
        if (!t.ok()) return t.status();
        inputs.emplace_back(*std::move(t));
      }
      c10::IValue result = forward_(std::move(inputs));

      std::vector<torch::Tensor> produced;
      if (result.isTensor()) {
        produced.push_back(result.toTensor());
      } else if (result.isTuple()) {
        for (const c10::IValue& v : result.toTupleRef().elements()) {
          if (!v.isTensor()) return absl::InternalError("model returned a tuple with a non-tensor");
          produced.push_back(v.toTensor());
        }
      } else if (result.isTensorList()) {
        for (const torch::Tensor& t : result.toTensorVector()) produced.push_back(t);
      } else if (result.isList()) {
        for (const c10::IValue& v : result.toListRef()) {
          if (!v.isTensor()) return absl::InternalError("model returned a list with a non-tensor");
          produced.push_back(v.toTensor());
        }
      } else {
        return absl::InternalError(
            absl::StrCat("model returned ", result.tagKind(), "; want a tensor or tuple of them"));
      }
      if (produced.size() != config_.outputs.size()) {
        std::string names;
        for (const TensorConfig& o : config_.outputs) {
          absl::StrAppend(&names, names.empty() ? "" : ", ", "'", o.name, "'");
        }
        return absl::InternalError(absl::StrCat("model returned ", produced.size(),
                                                " outputs, config names ", config_.outputs.size(),
                                                " (", names, ")"));
      }

      std::vector<std::vector<Tensor>> per_request(batch.size());
      for (auto& outs : per_request) outs.reserve(produced.size());
      for (size_t o = 0; o < produced.size(); ++o) {
        const TensorConfig& oc = config_.outputs[o];
        torch::Tensor t = produced[o];
        if (t.scalar_type() != output_types_[o]) {
          return absl::InternalError(absl::StrCat("output '", oc.name, "' is ",
                                                  TorchTypeName(t.scalar_type()), ", config says ",
                                                  std::string(DataTypeName(oc.datatype))));
        }
        if (!t.device().is_cpu()) t = t.cpu();
        t = t.contiguous();
        std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end());
        const char* bytes = static_cast<const char*>(t.data_ptr());
        const size_t total_bytes = t.numel() * t.element_size();
        if (!batching) {
          Tensor& out = per_request[0].emplace_back();
          out.name = oc.name;
          out.datatype = oc.datatype;
          out.shape = std::move(shape);
          out.data.assign(bytes, total_bytes);
          continue;
        }
        if (shape.empty() || shape[0] != total_rows) {
          return absl::InternalError(absl::StrCat("output '", oc.name, "' has shape ",
                                                  ShapeString(shape), ", the batch has ",
                                                  total_rows, " rows"));
        }
        const size_t row_bytes = total_rows == 0 ? 0 : total_bytes / total_rows;
        for (size_t r = 0; r < batch.size(); ++r) {
          Tensor& out = per_request[r].emplace_back();
          out.name = oc.name;
          out.datatype = oc.datatype;
          out.shape = shape;
          out.shape[0] = rows[r];
          out.data.assign(bytes, rows[r] * row_bytes);
          bytes += rows[r] * row_bytes;
        }
      }
      return per_request;
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("model '", config_.name, "': ", ErrorLine(e)));
    }
  }

  const ModelConfig config_;  // a copy: instances may outlive the LoadRequest's config
  torch::jit::Module module_;
  torch::jit::Method forward_;
  std::vector<c10::ScalarType> input_types_;
  std::vector<c10::ScalarType> output_types_;
};

class TorchBackend : public Backend {
 public:
  std::string_view name() const override { return "pytorch"; }

  absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const LoadRequest& request) override {
    const ModelConfig& config = *request.config;
    std::vector<c10::ScalarType> input_types;
    for (const TensorConfig& in : config.inputs) {
      auto t = TorchType(in.datatype);
      if (!t) {
        return absl::InvalidArgumentError(absl::StrCat("input '", in.name, "': datatype ",
                                                       std::string(DataTypeName(in.datatype)),
                                                       " is not supported by the pytorch backend"));
      }
      input_types.push_back(*t);
    }
    std::vector<c10::ScalarType> output_types;
    for (const TensorConfig& out : config.outputs) {
      auto t = TorchType(out.datatype);
      if (!t) {
        return absl::InvalidArgumentError(absl::StrCat("output '", out.name, "': datatype ",
                                                       std::string(DataTypeName(out.datatype)),
                                                       " is not supported by the pytorch backend"));
      }
      output_types.push_back(*t);
    }
    if (config.inputs.empty()) return absl::InvalidArgumentError("the model has no inputs");

    // Triton's pytorch backend parameter; it overrides the worker's per-instance default.
    int threads = request.intra_op_threads;
    if (auto it = config.parameters.find("INTRA_OP_THREAD_COUNT"); it != config.parameters.end()) {
      int value = 0;
      const std::string& s = it->second;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
      if (ec != std::errc() || end != s.data() + s.size() || value < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter INTRA_OP_THREAD_COUNT: '", s, "' is not a thread count"));
      }
      if (value > 0) threads = value;
    }
    ConfigureThreads(threads);

    const std::filesystem::path file =
        request.version_dir /
        (config.default_model_filename.empty() ? "model.pt" : config.default_model_filename);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("model file ", file.string(), " does not exist"));
    }
    try {
      torch::jit::Module module = torch::jit::load(file.string(), torch::kCPU);
      module.eval();
      if (!module.find_method("forward")) {
        return absl::InvalidArgumentError(
            absl::StrCat("model file ", file.string(), " has no forward method"));
      }
      return std::unique_ptr<ModelInstance>(std::make_unique<TorchInstance>(
          config, std::move(module), std::move(input_types), std::move(output_types)));
    } catch (const std::exception& e) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot load TorchScript model ", file.string(), ": ", ErrorLine(e)));
    }
  }
};

}  // namespace

std::unique_ptr<Backend> MakeTorchBackend() { return std::make_unique<TorchBackend>(); }

}  // namespace berth::worker
