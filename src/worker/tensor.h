#pragma once
// Tensors as berth-worker moves them between protocols and backends: a datatype from the Open
// Inference Protocol, a shape, and the elements as raw bytes. The byte layout is the one OIP's
// binary extension and gRPC raw contents use, so those travel without conversion.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::worker {

// OIP datatypes (peers-and-open-inference-protocol.md §4.3).
enum class DataType {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBf16,
  kBytes,
};

// "FP32" -> kFp32; nullopt for names OIP does not define.
std::optional<DataType> DataTypeFromName(std::string_view name);
// kFp32 -> "FP32".
std::string_view DataTypeName(DataType type);
// config.pbtxt spelling: "TYPE_FP32" -> kFp32, "TYPE_STRING" -> kBytes.
std::optional<DataType> DataTypeFromConfigName(std::string_view name);
// Bytes per element; 0 for BYTES, whose elements vary in size.
size_t ElementSize(DataType type);

// Elements in a tensor of `shape` (1 for a scalar). Dimensions must be >= 0.
int64_t ElementCount(std::span<const int64_t> shape);
std::string ShapeString(std::span<const int64_t> shape);  // "[2,3]"

struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  // Elements, row-major, little-endian. BOOL is one byte (0 or 1) per element; BYTES elements
  // are each a 4-byte little-endian length followed by that many bytes.
  std::string data;

  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data.data());
  }
  template <typename T>
  T* mutable_as() {
    return reinterpret_cast<T*>(data.data());
  }
};

// OK when `data` holds exactly the elements `shape` and `datatype` call for; otherwise
// INVALID_ARGUMENT naming the tensor (e.g. "input 'x': 24 bytes for shape [2,4] of FP32, want
// 32"). For BYTES, checks that the length prefixes walk the buffer and count the elements.
absl::Status CheckTensorSize(const Tensor& tensor);

// The BYTES elements of a tensor, in order. Requires CheckTensorSize(tensor).ok().
std::vector<std::string_view> BytesElements(const Tensor& tensor);
// Appends one BYTES element (length prefix and bytes) to `data`.
void AppendBytesElement(std::string_view element, std::string* data);

// Batching: tensors of several requests joined along dimension 0, and split back.
// Concat requires the same name, datatype and dimensions past the first in every part.
absl::StatusOr<Tensor> ConcatBatch(std::span<const Tensor* const> parts);
// Splits `whole` along dimension 0 into pieces of `sizes` rows (sum must equal shape[0]).
absl::StatusOr<std::vector<Tensor>> SplitBatch(const Tensor& whole, std::span<const int64_t> sizes);

}  // namespace berth::worker
