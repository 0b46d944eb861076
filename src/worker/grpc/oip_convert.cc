#include "worker/grpc/oip_convert.h"

#include <bit>
#include <cstring>
#include <utility>

#include "common/status_macros.h"

namespace berth::worker::grpc_api {

static_assert(std::endian::native == std::endian::little,
              "raw tensor bytes are little-endian; a big-endian host needs byte swaps here");

namespace {

using inference::InferTensorContents;

std::string InputError(const std::string& name, const std::string& what) {
  return "input '" + name + "': " + what;
}

template <typename T>
void AppendValue(T value, std::string* data) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  data->append(bytes, sizeof(T));
}

// Appends `values` as elements of type T, checking that each fits.
template <typename T, typename Repeated>
absl::Status AppendNarrowed(const std::string& name, const Repeated& values, std::string* data) {
  data->reserve(data->size() + values.size() * sizeof(T));
  for (auto v : values) {
    if (!std::in_range<T>(v)) {
      return absl::InvalidArgumentError(
          InputError(name, "value " + std::to_string(v) + " does not fit the datatype"));
    }
    AppendValue(static_cast<T>(v), data);
  }
  return absl::OkStatus();
}

int TotalElements(const InferTensorContents& c) {
  return c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() +
         c.uint_contents_size() + c.uint64_contents_size() + c.fp32_contents_size() +
         c.fp64_contents_size() + c.bytes_contents_size();
}

// The typed field that carries `type` and how many elements it holds; nullptr name for the
// types that only travel raw.
struct TypedField {
  const char* name;
  int size;
};

TypedField FieldFor(DataType type, const InferTensorContents& c) {
  switch (type) {
    case DataType::kBool:
      return {"bool_contents", c.bool_contents_size()};
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      return {"int_contents", c.int_contents_size()};
    case DataType::kInt64:
      return {"int64_contents", c.int64_contents_size()};
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      return {"uint_contents", c.uint_contents_size()};
    case DataType::kUint64:
      return {"uint64_contents", c.uint64_contents_size()};
    case DataType::kFp32:
      return {"fp32_contents", c.fp32_contents_size()};
    case DataType::kFp64:
      return {"fp64_contents", c.fp64_contents_size()};
    case DataType::kBytes:
      return {"bytes_contents", c.bytes_contents_size()};
    case DataType::kFp16:
    case DataType::kBf16:
      return {nullptr, 0};
  }
  return {nullptr, 0};
}

absl::Status TypedToRaw(const std::string& name, DataType type, int64_t count,
                        const InferTensorContents& c, std::string* data) {
  TypedField field = FieldFor(type, c);
  std::string type_name(DataTypeName(type));
  if (field.name == nullptr) {
    return absl::InvalidArgumentError(
        InputError(name, type_name + " has no typed contents; send it in raw_input_contents"));
  }
  if (field.size != TotalElements(c)) {
    return absl::InvalidArgumentError(
        InputError(name, "contents of a " + type_name + " tensor go in " + field.name));
  }
  if (field.size != count) {
    return absl::InvalidArgumentError(
        InputError(name, std::to_string(field.size) + " elements in " + field.name + ", want " +
                             std::to_string(count) + " for its shape"));
  }
  switch (type) {
    case DataType::kBool:
      for (bool b : c.bool_contents()) data->push_back(b ? 1 : 0);
      return absl::OkStatus();
    case DataType::kInt8:
      return AppendNarrowed<int8_t>(name, c.int_contents(), data);
    case DataType::kInt16:
      return AppendNarrowed<int16_t>(name, c.int_contents(), data);
    case DataType::kInt32:
      return AppendNarrowed<int32_t>(name, c.int_contents(), data);
    case DataType::kInt64:
      return AppendNarrowed<int64_t>(name, c.int64_contents(), data);
    case DataType::kUint8:
      return AppendNarrowed<uint8_t>(name, c.uint_contents(), data);
    case DataType::kUint16:
      return AppendNarrowed<uint16_t>(name, c.uint_contents(), data);
    case DataType::kUint32:
      return AppendNarrowed<uint32_t>(name, c.uint_contents(), data);
    case DataType::kUint64:
      return AppendNarrowed<uint64_t>(name, c.uint64_contents(), data);
    case DataType::kFp32:
      for (float v : c.fp32_contents()) AppendValue(v, data);
      return absl::OkStatus();
    case DataType::kFp64:
      for (double v : c.fp64_contents()) AppendValue(v, data);
      return absl::OkStatus();
    case DataType::kBytes:
      for (const std::string& s : c.bytes_contents()) AppendBytesElement(s, data);
      return absl::OkStatus();
    default:
      break;
  }
  return absl::InternalError(InputError(name, "unhandled datatype " + type_name));
}

template <typename T>
T ReadValue(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

void RawToTyped(const Tensor& t, InferTensorContents* c) {
  const size_t n = t.data.size() / std::max<size_t>(1, ElementSize(t.datatype));
  const char* p = t.data.data();
  switch (t.datatype) {
    case DataType::kBool:
      for (size_t i = 0; i < n; ++i) c->add_bool_contents(p[i] != 0);
      break;
    case DataType::kInt8:
      for (size_t i = 0; i < n; ++i) c->add_int_contents(ReadValue<int8_t>(p + i));
      break;
    case DataType::kInt16:
      for (size_t i = 0; i < n; ++i) c->add_int_contents(ReadValue<int16_t>(p + 2 * i));
      break;
    case DataType::kInt32:
      for (size_t i = 0; i < n; ++i) c->add_int_contents(ReadValue<int32_t>(p + 4 * i));
      break;
    case DataType::kInt64:
      for (size_t i = 0; i < n; ++i) c->add_int64_contents(ReadValue<int64_t>(p + 8 * i));
      break;
    case DataType::kUint8:
      for (size_t i = 0; i < n; ++i) c->add_uint_contents(ReadValue<uint8_t>(p + i));
      break;
    case DataType::kUint16:
      for (size_t i = 0; i < n; ++i) c->add_uint_contents(ReadValue<uint16_t>(p + 2 * i));
      break;
    case DataType::kUint32:
      for (size_t i = 0; i < n; ++i) c->add_uint_contents(ReadValue<uint32_t>(p + 4 * i));
      break;
    case DataType::kUint64:
      for (size_t i = 0; i < n; ++i) c->add_uint64_contents(ReadValue<uint64_t>(p + 8 * i));
      break;
    case DataType::kFp32:
      for (size_t i = 0; i < n; ++i) c->add_fp32_contents(ReadValue<float>(p + 4 * i));
      break;
    case DataType::kFp64:
      for (size_t i = 0; i < n; ++i) c->add_fp64_contents(ReadValue<double>(p + 8 * i));
      break;
    case DataType::kBytes:
      for (std::string_view e : BytesElements(t)) c->add_bytes_contents(std::string(e));
      break;
    case DataType::kFp16:
    case DataType::kBf16:
      break;  // raw only; EncodeInferResponse never asks
  }
}

}  // namespace

absl::StatusOr<DecodedInferRequest> DecodeInferRequest(const inference::ModelInferRequest& msg) {
  DecodedInferRequest out;
  out.raw = msg.raw_input_contents_size() > 0;
  if (out.raw && msg.raw_input_contents_size() != msg.inputs_size()) {
    return absl::InvalidArgumentError("raw_input_contents has " +
                                      std::to_string(msg.raw_input_contents_size()) +
                                      " buffers for " + std::to_string(msg.inputs_size()) +
                                      " inputs; send one per input, in input order");
  }
  out.request.id = msg.id();
  out.request.inputs.reserve(msg.inputs_size());
  for (int i = 0; i < msg.inputs_size(); ++i) {
    const auto& in = msg.inputs(i);
    Tensor t;
    t.name = in.name();
    auto type = DataTypeFromName(in.datatype());
    if (!type) {
      return absl::InvalidArgumentError(
          InputError(in.name(), "unknown datatype '" + in.datatype() + "'"));
    }
    t.datatype = *type;
    t.shape.assign(in.shape().begin(), in.shape().end());
    for (int64_t d : t.shape) {
      if (d < 0) {
        return absl::InvalidArgumentError(
            InputError(in.name(), "shape " + ShapeString(t.shape) + " has a negative dimension"));
      }
    }
    if (out.raw) {
      if (in.has_contents() && TotalElements(in.contents()) > 0) {
        return absl::InvalidArgumentError(InputError(
            in.name(), "contents given along with raw_input_contents; use one or the other"));
      }
      t.data = msg.raw_input_contents(i);
      RETURN_IF_ERROR(CheckTensorSize(t));
    } else {
      RETURN_IF_ERROR(
          TypedToRaw(in.name(), t.datatype, ElementCount(t.shape), in.contents(), &t.data));
    }
    out.request.inputs.push_back(std::move(t));
  }
  for (const auto& o : msg.outputs()) out.request.requested_outputs.push_back(o.name());
  return out;
}

absl::Status EncodeInferResponse(InferResponse response, bool raw,
                                 inference::ModelInferResponse* out) {
  for (const Tensor& t : response.outputs) {
    if (t.datatype == DataType::kFp16 || t.datatype == DataType::kBf16) raw = true;
    if (absl::Status s = CheckTensorSize(t); !s.ok()) {
      return absl::InternalError("model returned a malformed output: " + std::string(s.message()));
    }
  }
  out->set_model_name(std::move(response.model_name));
  out->set_model_version(std::move(response.model_version));
  out->set_id(std::move(response.id));
  for (Tensor& t : response.outputs) {
    auto* o = out->add_outputs();
    o->set_name(t.name);
    o->set_datatype(std::string(DataTypeName(t.datatype)));
    for (int64_t d : t.shape) o->add_shape(d);
    if (raw) {
      out->add_raw_output_contents(std::move(t.data));
    } else {
      RawToTyped(t, o->mutable_contents());
    }
  }
  return absl::OkStatus();
}

void EncodeModelMetadata(const ModelMetadata& metadata, inference::ModelMetadataResponse* out) {
  out->set_name(metadata.name);
  for (const auto& v : metadata.versions) out->add_versions(v);
  out->set_platform(metadata.platform);
  auto fill = [](const TensorMetadata& t, auto* m) {
    m->set_name(t.name);
    m->set_datatype(std::string(DataTypeName(t.datatype)));
    for (int64_t d : t.shape) m->add_shape(d);
  };
  for (const auto& t : metadata.inputs) fill(t, out->add_inputs());
  for (const auto& t : metadata.outputs) fill(t, out->add_outputs());
}

}  // namespace berth::worker::grpc_api
