#include "worker/codec/infer_json.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/codec/json_write.h"
#include "worker/codec/str.h"

namespace berth::worker {

namespace {

using codec_internal::Cat;
using nlohmann::json;

absl::Status InputError(std::string_view input, std::string_view what) {
  return absl::InvalidArgumentError(Cat("input '", input, "': ", what));
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; clients need only the rest.
std::string ParseErrorText(const json::exception& e) {
  std::string_view text = e.what();
  if (auto pos = text.find("] "); pos != std::string_view::npos && text.front() == '[') {
    text.remove_prefix(pos + 2);
  }
  return std::string(text);
}

std::string_view JsonTypeName(const json& v) {
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_object()) return "an object";
  return "a list";
}

std::string ElementText(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
void AppendRaw(T v, std::string* data) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian host (x86-64, aarch64)
  data->append(buf, sizeof(T));
}

// Describes where an element sits, for error messages.
struct ElementSite {
  std::string_view input;
  DataType type;
  int64_t index;
};

absl::Status ElementError(const ElementSite& site, std::string_view what) {
  return absl::InvalidArgumentError(
      Cat("input '", site.input, "': element ", site.index, " ", what));
}

template <typename T>
absl::Status AppendInteger(const json& v, const ElementSite& site, std::string* data) {
  constexpr int64_t kMin = static_cast<int64_t>(std::numeric_limits<T>::min());
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u <= kMax) {
      AppendRaw(static_cast<T>(u), data);
      return absl::OkStatus();
    }
  } else if (v.is_number_integer()) {
    const int64_t s = v.get<int64_t>();
    if (s >= kMin && (s < 0 || static_cast<uint64_t>(s) <= kMax)) {
      AppendRaw(static_cast<T>(s), data);
      return absl::OkStatus();
    }
  } else if (v.is_number_float()) {
    // Clients that write 2.0 for 2 are accepted; exact integers only.
    const double d = v.get<double>();
    constexpr double kExact = 9007199254740992.0;  // 2^53
    if (d != std::trunc(d) || std::fabs(d) > kExact) {
      return ElementError(site, Cat("(", ElementText(v), ") is not an integer, as ",
                                    DataTypeName(site.type), " needs"));
    }
    const auto s = static_cast<int64_t>(d);
    if (s >= kMin && (s < 0 || static_cast<uint64_t>(s) <= kMax)) {
      AppendRaw(static_cast<T>(s), data);
      return absl::OkStatus();
    }
  } else {
    return ElementError(
        site, Cat("is ", JsonTypeName(v), "; ", DataTypeName(site.type), " needs an integer"));
  }
  return ElementError(site,
                      Cat("(", ElementText(v), ") is out of range for ", DataTypeName(site.type)));
}

template <typename T>
absl::Status AppendFloat(const json& v, const ElementSite& site, std::string* data) {
  if (!v.is_number()) {
    return ElementError(
        site, Cat("is ", JsonTypeName(v), "; ", DataTypeName(site.type), " needs a number"));
  }
  const double d = v.get<double>();
  if constexpr (std::is_same_v<T, float>) {
    // Past FLT_MAX plus half an ulp the value would round to infinity; below it, to FLT_MAX
    // (which is what FLT_MAX's shortest text, 3.4028235e+38, reads as).
    if (std::fabs(d) >= 0x1.ffffffp127) {
      return ElementError(site, Cat("(", ElementText(v), ") is out of range for FP32"));
    }
  }
  AppendRaw(static_cast<T>(d), data);
  return absl::OkStatus();
}

absl::Status AppendBool(const json& v, const ElementSite& site, std::string* data) {
  if (!v.is_boolean()) {
    return ElementError(site, Cat("is ", JsonTypeName(v), "; BOOL needs true or false"));
  }
  data->push_back(v.get<bool>() ? 1 : 0);
  return absl::OkStatus();
}

absl::Status AppendString(const json& v, const ElementSite& site, std::string* data) {
  if (!v.is_string()) {
    return ElementError(site, Cat("is ", JsonTypeName(v), "; BYTES needs a string"));
  }
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() > std::numeric_limits<uint32_t>::max()) {
    return ElementError(site, "is longer than 4 GiB");
  }
  AppendBytesElement(s, data);
  return absl::OkStatus();
}

// Appends the leaves of `node` (nested lists or a flat one; a bare value is one element) in
// order, counting them in site->index.
template <auto Add>
absl::Status Walk(const json& node, ElementSite* site, std::string* data) {
  if (node.is_array()) {
    for (const json& e : node) RETURN_IF_ERROR(Walk<Add>(e, site, data));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(Add(node, *site, data));
  ++site->index;
  return absl::OkStatus();
}

absl::Status AppendJsonData(const json& node, ElementSite* site, std::string* data) {
  switch (site->type) {
    case DataType::kBool:
      return Walk<AppendBool>(node, site, data);
    case DataType::kUint8:
      return Walk<AppendInteger<uint8_t>>(node, site, data);
    case DataType::kUint16:
      return Walk<AppendInteger<uint16_t>>(node, site, data);
    case DataType::kUint32:
      return Walk<AppendInteger<uint32_t>>(node, site, data);
    case DataType::kUint64:
      return Walk<AppendInteger<uint64_t>>(node, site, data);
    case DataType::kInt8:
      return Walk<AppendInteger<int8_t>>(node, site, data);
    case DataType::kInt16:
      return Walk<AppendInteger<int16_t>>(node, site, data);
    case DataType::kInt32:
      return Walk<AppendInteger<int32_t>>(node, site, data);
    case DataType::kInt64:
      return Walk<AppendInteger<int64_t>>(node, site, data);
    case DataType::kFp32:
      return Walk<AppendFloat<float>>(node, site, data);
    case DataType::kFp64:
      return Walk<AppendFloat<double>>(node, site, data);
    case DataType::kBytes:
      return Walk<AppendString>(node, site, data);
    case DataType::kFp16:
    case DataType::kBf16:
      break;
  }
  return InputError(site->input, Cat(DataTypeName(site->type),
                                     " cannot be sent as JSON data; use binary data "
                                     "(parameters.binary_data_size)"));
}

// Shape from JSON: a list of non-negative integers. Sets *count to the element count, or -1 when
// it would overflow.
absl::StatusOr<std::vector<int64_t>> ParseShape(const json& node, std::string_view input,
                                                int64_t* count) {
  if (!node.is_array()) return InputError(input, "shape must be a list of integers");
  std::vector<int64_t> shape;
  shape.reserve(node.size());
  int64_t n = 1;
  for (const json& d : node) {
    if (!d.is_number_integer() || (!d.is_number_unsigned() && d.get<int64_t>() < 0)) {
      return InputError(input,
                        Cat("shape ", ElementText(node), " must hold non-negative integers"));
    }
    if (d.is_number_unsigned() &&
        d.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InputError(input, Cat("shape ", ElementText(node), " is too large"));
    }
    const int64_t dim = d.get<int64_t>();
    shape.push_back(dim);
    if (n >= 0 && dim > 0 && n > std::numeric_limits<int64_t>::max() / dim) {
      n = -1;
    } else if (n >= 0) {
      n *= dim;
    }
  }
  if (n < 0) return InputError(input, Cat("shape ", ShapeString(shape), " is too large"));
  *count = n;
  return shape;
}

const json* Find(const json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// Walks the binary section behind the JSON header, input by input.
struct BinaryCursor {
  std::string_view bytes;
  size_t offset = 0;
  bool present = false;  // the request had Inference-Header-Content-Length
};

absl::StatusOr<Tensor> DecodeInput(const json& in, size_t index, BinaryCursor* binary,
                                   size_t header_size) {
  if (!in.is_object()) {
    return absl::InvalidArgumentError(Cat("inputs[", index, "] must be an object"));
  }
  const json* name = Find(in, "name");
  if (name == nullptr || !name->is_string()) {
    return absl::InvalidArgumentError(Cat("inputs[", index, "] needs a string 'name'"));
  }
  Tensor tensor;
  tensor.name = name->get<std::string>();
  const std::string_view input = tensor.name;

  const json* datatype = Find(in, "datatype");
  if (datatype == nullptr || !datatype->is_string()) {
    return InputError(input, "needs a string 'datatype'");
  }
  const std::string& type_name = datatype->get_ref<const std::string&>();
  const std::optional<DataType> type = DataTypeFromName(type_name);
  if (!type) {
    return InputError(input, Cat("unknown datatype '", type_name,
                                 "'; the Open Inference Protocol defines BOOL, UINT8, "
                                 "UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
                                 "FP16, FP32, FP64, BF16 and BYTES"));
  }
  tensor.datatype = *type;

  const json* shape = Find(in, "shape");
  if (shape == nullptr) return InputError(input, "needs a 'shape'");
  int64_t count = 0;
  ASSIGN_OR_RETURN(tensor.shape, ParseShape(*shape, input, &count));

  std::optional<uint64_t> binary_size;
  if (const json* params = Find(in, "parameters"); params != nullptr) {
    if (!params->is_object()) return InputError(input, "parameters must be an object");
    if (const json* size = Find(*params, "binary_data_size"); size != nullptr) {
      if (!size->is_number_integer() || (!size->is_number_unsigned() && size->get<int64_t>() < 0)) {
        return InputError(input, "parameters.binary_data_size must be a non-negative integer");
      }
      binary_size = size->get<uint64_t>();
    }
    if (Find(*params, "shared_memory_region") != nullptr) {
      return InputError(input, "shared memory inputs are not supported");
    }
  }
  const json* data = Find(in, "data");

  if (binary_size) {
    if (data != nullptr) {
      return InputError(input, "has both 'data' and parameters.binary_data_size; send one");
    }
    if (!binary->present) {
      return InputError(input,
                        "has parameters.binary_data_size but the request has no "
                        "Inference-Header-Content-Length header");
    }
    const size_t left = binary->bytes.size() - binary->offset;
    if (*binary_size > left) {
      return InputError(
          input, Cat("binary_data_size ", *binary_size, " runs past the end of the body (", left,
                     " bytes of binary data left)"));
    }
    if (tensor.datatype != DataType::kBytes) {
      const uint64_t want = static_cast<uint64_t>(count) * ElementSize(tensor.datatype);
      if (*binary_size != want) {
        return InputError(input, Cat("binary_data_size ", *binary_size, " does not match shape ",
                                     ShapeString(tensor.shape), " of ",
                                     DataTypeName(tensor.datatype), " (", want, " bytes)"));
      }
    }
    tensor.data.assign(binary->bytes.substr(binary->offset, *binary_size));
    binary->offset += *binary_size;
    if (tensor.datatype == DataType::kBytes) {
      if (absl::Status s = CheckTensorSize(tensor); !s.ok()) {
        return InputError(input, Cat("binary data: ", s.message()));
      }
    }
    return tensor;
  }

  if (data == nullptr) {
    return InputError(input, "needs 'data' or parameters.binary_data_size");
  }
  // Each JSON element takes at least one byte of the header, so a count past the header's size
  // cannot be met; reserving for it would only let a small request allocate a lot.
  const size_t element_size = ElementSize(tensor.datatype);
  if (element_size > 0 && static_cast<uint64_t>(count) <= header_size) {
    tensor.data.reserve(static_cast<size_t>(count) * element_size);
  }
  ElementSite site{input, tensor.datatype, 0};
  RETURN_IF_ERROR(AppendJsonData(*data, &site, &tensor.data));
  if (site.index != count) {
    return InputError(input, Cat("shape ", ShapeString(tensor.shape), " needs ", count,
                                 " elements, got ", site.index));
  }
  return tensor;
}

absl::Status DecodeOutputs(const json& outputs, DecodedInfer* out) {
  if (!outputs.is_array()) return absl::InvalidArgumentError("'outputs' must be a list");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const json& o = outputs[i];
    const json* name = o.is_object() ? Find(o, "name") : nullptr;
    if (name == nullptr || !name->is_string()) {
      return absl::InvalidArgumentError(Cat("outputs[", i, "] needs a string 'name'"));
    }
    const std::string& output = name->get_ref<const std::string&>();
    out->request.requested_outputs.push_back(output);
    const json* params = Find(o, "parameters");
    if (params == nullptr) continue;
    if (!params->is_object()) {
      return absl::InvalidArgumentError(Cat("output '", output, "': parameters must be an object"));
    }
    if (const json* b = Find(*params, "binary_data"); b != nullptr) {
      if (!b->is_boolean()) {
        return absl::InvalidArgumentError(
            Cat("output '", output, "': parameters.binary_data must be true or false"));
      }
      out->output_binary[output] = b->get<bool>();
    }
    if (const json* c = Find(*params, "classification"); c != nullptr) {
      if (!c->is_number_integer()) {
        return absl::InvalidArgumentError(
            Cat("output '", output, "': parameters.classification must be an integer"));
      }
      out->output_classification[output] = c->get<int64_t>();
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DecodedInfer> DecodeInferRequest(std::string_view body,
                                                std::optional<size_t> json_length) {
  BinaryCursor binary;
  std::string_view header = body;
  if (json_length) {
    if (*json_length > body.size()) {
      return absl::InvalidArgumentError(Cat("Inference-Header-Content-Length ", *json_length,
                                            " is larger than the body (", body.size(), " bytes)"));
    }
    header = body.substr(0, *json_length);
    binary.bytes = body.substr(*json_length);
    binary.present = true;
  }

  json root;
  try {
    root = json::parse(header.begin(), header.end());
  } catch (const json::exception& e) {
    if (json_length) {
      // The usual cause: a header length that does not match the JSON part of the body.
      return absl::InvalidArgumentError(
          Cat("malformed JSON in the first ", *json_length,
              " bytes (Inference-Header-Content-Length): ", ParseErrorText(e)));
    }
    return absl::InvalidArgumentError(Cat("malformed JSON: ", ParseErrorText(e)));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError("the inference request must be a JSON object");
  }

  DecodedInfer out;
  if (const json* id = Find(root, "id"); id != nullptr) {
    if (!id->is_string()) return absl::InvalidArgumentError("'id' must be a string");
    out.request.id = id->get<std::string>();
  }
  if (const json* params = Find(root, "parameters"); params != nullptr) {
    if (!params->is_object()) return absl::InvalidArgumentError("'parameters' must be an object");
    if (const json* b = Find(*params, "binary_data_output"); b != nullptr) {
      if (!b->is_boolean()) {
        return absl::InvalidArgumentError("parameters.binary_data_output must be true or false");
      }
      out.binary_output_default = b->get<bool>();
    }
  }
  const json* inputs = Find(root, "inputs");
  if (inputs == nullptr || !inputs->is_array()) {
    return absl::InvalidArgumentError("the inference request needs an 'inputs' list");
  }
  out.request.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    ASSIGN_OR_RETURN(Tensor tensor, DecodeInput((*inputs)[i], i, &binary, header.size()));
    out.request.inputs.push_back(std::move(tensor));
  }
  if (binary.offset != binary.bytes.size()) {
    return absl::InvalidArgumentError(Cat(
        binary.bytes.size() - binary.offset,
        " bytes follow the last binary input; the binary_data_size values sum to ", binary.offset,
        " but the body has ", binary.bytes.size(), " bytes after the JSON header"));
  }
  if (const json* outputs = Find(root, "outputs"); outputs != nullptr) {
    RETURN_IF_ERROR(DecodeOutputs(*outputs, &out));
  }
  return out;
}

EncodedBody EncodeInferResponse(const InferResponse& response, const DecodedInfer& asked) {
  std::vector<bool> binary(response.outputs.size());
  size_t binary_total = 0;
  size_t json_bytes = 0;
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    bool b = asked.binary_output_default;
    if (auto it = asked.output_binary.find(t.name); it != asked.output_binary.end()) b = it->second;
    // JSON has no half-precision numbers; such outputs travel as bytes whatever was asked.
    if (t.datatype == DataType::kFp16 || t.datatype == DataType::kBf16) b = true;
    binary[i] = b;
    (b ? binary_total : json_bytes) += t.data.size();
  }

  EncodedBody out;
  std::string& body = out.body;
  body.reserve(256 + binary_total + json_bytes * 3);
  body.append("{\"model_name\":");
  json_out::AppendJsonString(response.model_name, &body);
  body.append(",\"model_version\":");
  json_out::AppendJsonString(response.model_version, &body);
  if (!response.id.empty()) {
    body.append(",\"id\":");
    json_out::AppendJsonString(response.id, &body);
  }
  body.append(",\"outputs\":[");
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    if (i > 0) body.push_back(',');
    body.append("{\"name\":");
    json_out::AppendJsonString(t.name, &body);
    body.append(",\"datatype\":\"");
    body.append(DataTypeName(t.datatype));
    body.append("\",\"shape\":[");
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (d > 0) body.push_back(',');
      body.append(std::to_string(t.shape[d]));
    }
    body.push_back(']');
    if (binary[i]) {
      body.append(",\"parameters\":{\"binary_data_size\":");
      body.append(std::to_string(t.data.size()));
      body.append("}}");
    } else {
      body.append(",\"data\":");
      json_out::AppendFlatData(t, &body);
      body.push_back('}');
    }
  }
  body.append("]}");

  if (std::find(binary.begin(), binary.end(), true) == binary.end()) {
    out.content_type = "application/json";
    return out;
  }
  out.json_length = body.size();
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    if (binary[i]) body.append(response.outputs[i].data);
  }
  out.content_type = "application/octet-stream";
  return out;
}

namespace {

json TensorMetadataJson(const std::vector<TensorMetadata>& tensors) {
  json list = json::array();
  for (const TensorMetadata& t : tensors) {
    list.push_back({{"name", t.name},
                    {"datatype", std::string(DataTypeName(t.datatype))},
                    {"shape", t.shape}});
  }
  return list;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

std::string ServerMetadataJson(const ServerMetadata& metadata) {
  return Dump({{"name", metadata.name},
               {"version", metadata.version},
               {"extensions", metadata.extensions}});
}

std::string ModelMetadataJson(const ModelMetadata& metadata) {
  return Dump({{"name", metadata.name},
               {"versions", metadata.versions},
               {"platform", metadata.platform},
               {"inputs", TensorMetadataJson(metadata.inputs)},
               {"outputs", TensorMetadataJson(metadata.outputs)}});
}

}  // namespace berth::worker
