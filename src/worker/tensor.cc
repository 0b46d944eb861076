#include "worker/tensor.h"

#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::worker {

namespace {

struct TypeInfo {
  DataType type;
  std::string_view name;
  std::string_view config_name;
  size_t size;
};

constexpr std::array<TypeInfo, 14> kTypes = {{
    {DataType::kBool, "BOOL", "TYPE_BOOL", 1},
    {DataType::kUint8, "UINT8", "TYPE_UINT8", 1},
    {DataType::kUint16, "UINT16", "TYPE_UINT16", 2},
    {DataType::kUint32, "UINT32", "TYPE_UINT32", 4},
    {DataType::kUint64, "UINT64", "TYPE_UINT64", 8},
    {DataType::kInt8, "INT8", "TYPE_INT8", 1},
    {DataType::kInt16, "INT16", "TYPE_INT16", 2},
    {DataType::kInt32, "INT32", "TYPE_INT32", 4},
    {DataType::kInt64, "INT64", "TYPE_INT64", 8},
    {DataType::kFp16, "FP16", "TYPE_FP16", 2},
    {DataType::kFp32, "FP32", "TYPE_FP32", 4},
    {DataType::kFp64, "FP64", "TYPE_FP64", 8},
    {DataType::kBf16, "BF16", "TYPE_BF16", 2},
    {DataType::kBytes, "BYTES", "TYPE_STRING", 0},
}};

const TypeInfo& Info(DataType type) { return kTypes[static_cast<size_t>(type)]; }

uint32_t ReadLength(const char* p) {
  uint32_t n;
  std::memcpy(&n, p, 4);  // little-endian host (x86-64, aarch64)
  return n;
}

// Offsets of each BYTES element's length prefix, or an error when the prefixes do not walk the
// buffer exactly.
absl::StatusOr<std::vector<size_t>> BytesOffsets(const Tensor& tensor) {
  std::vector<size_t> offsets;
  size_t pos = 0;
  while (pos < tensor.data.size()) {
    if (tensor.data.size() - pos < 4) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "': BYTES element ",
                                                     offsets.size(), " has a truncated length"));
    }
    uint32_t n = ReadLength(tensor.data.data() + pos);
    if (tensor.data.size() - pos - 4 < n) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "': BYTES element ",
                                                     offsets.size(), " runs past the data"));
    }
    offsets.push_back(pos);
    pos += 4 + n;
  }
  return offsets;
}

}  // namespace

std::optional<DataType> DataTypeFromName(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

std::string_view DataTypeName(DataType type) { return Info(type).name; }

std::optional<DataType> DataTypeFromConfigName(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.config_name == name) return t.type;
  }
  return std::nullopt;
}

size_t ElementSize(DataType type) { return Info(type).size; }

int64_t ElementCount(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

absl::Status CheckTensorSize(const Tensor& tensor) {
  for (int64_t d : tensor.shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "': shape ",
                                                     ShapeString(tensor.shape),
                                                     " has a negative dimension"));
    }
  }
  const int64_t count = ElementCount(tensor.shape);
  if (tensor.datatype == DataType::kBytes) {
    auto offsets = BytesOffsets(tensor);
    if (!offsets.ok()) return offsets.status();
    if (static_cast<int64_t>(offsets->size()) != count) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", tensor.name, "': shape ",
                                                     ShapeString(tensor.shape), " needs ", count,
                                                     " BYTES elements, got ", offsets->size()));
    }
    return absl::OkStatus();
  }
  const uint64_t want = static_cast<uint64_t>(count) * ElementSize(tensor.datatype);
  if (tensor.data.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", tensor.name, "': ", tensor.data.size(), " bytes for shape ",
                     ShapeString(tensor.shape), " of ", std::string(DataTypeName(tensor.datatype)),
                     ", want ", want));
  }
  return absl::OkStatus();
}

std::vector<std::string_view> BytesElements(const Tensor& tensor) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos + 4 <= tensor.data.size()) {
    uint32_t n = ReadLength(tensor.data.data() + pos);
    out.emplace_back(tensor.data.data() + pos + 4, n);
    pos += 4 + n;
  }
  return out;
}

void AppendBytesElement(std::string_view element, std::string* data) {
  uint32_t n = static_cast<uint32_t>(element.size());
  char prefix[4];
  std::memcpy(prefix, &n, 4);
  data->append(prefix, 4);
  data->append(element);
}

absl::StatusOr<Tensor> ConcatBatch(std::span<const Tensor* const> parts) {
  if (parts.empty()) return absl::InvalidArgumentError("nothing to concatenate");
  const Tensor& first = *parts.front();
  if (first.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", first.name, "' has no batch dimension"));
  }
  Tensor whole;
  whole.name = first.name;
  whole.datatype = first.datatype;
  whole.shape = first.shape;
  whole.shape[0] = 0;
  size_t bytes = 0;
  for (const Tensor* part : parts) {
    bool same_tail =
        part->shape.size() == first.shape.size() &&
        std::equal(part->shape.begin() + 1, part->shape.end(), first.shape.begin() + 1);
    if (part->datatype != first.datatype || !same_tail) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", first.name, "': cannot batch ", std::string(DataTypeName(part->datatype)),
          ShapeString(part->shape), " with ", std::string(DataTypeName(first.datatype)),
          ShapeString(first.shape)));
    }
    whole.shape[0] += part->shape[0];
    bytes += part->data.size();
  }
  whole.data.reserve(bytes);
  for (const Tensor* part : parts) whole.data.append(part->data);
  return whole;
}

absl::StatusOr<std::vector<Tensor>> SplitBatch(const Tensor& whole,
                                               std::span<const int64_t> sizes) {
  if (whole.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("output '", whole.name, "' has no batch dimension to split"));
  }
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != whole.shape[0]) {
    return absl::InvalidArgumentError(absl::StrCat("output '", whole.name, "' has ", whole.shape[0],
                                                   " rows, the batch sent ", total));
  }
  const int64_t row_elements = whole.shape[0] == 0 ? 0 : ElementCount(whole.shape) / whole.shape[0];
  std::vector<size_t> row_offsets;  // BYTES: element offsets, so rows can be cut
  if (whole.datatype == DataType::kBytes) {
    auto offsets = BytesOffsets(whole);
    if (!offsets.ok()) return offsets.status();
    row_offsets = *std::move(offsets);
    row_offsets.push_back(whole.data.size());
  }
  std::vector<Tensor> pieces;
  pieces.reserve(sizes.size());
  int64_t row = 0;
  const size_t row_bytes = row_elements * ElementSize(whole.datatype);
  for (int64_t s : sizes) {
    Tensor piece;
    piece.name = whole.name;
    piece.datatype = whole.datatype;
    piece.shape = whole.shape;
    piece.shape[0] = s;
    if (whole.datatype == DataType::kBytes) {
      size_t from = row_offsets[row * row_elements];
      size_t to = row_offsets[(row + s) * row_elements];
      piece.data.assign(whole.data, from, to - from);
    } else {
      piece.data.assign(whole.data, row * row_bytes, s * row_bytes);
    }
    row += s;
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

}  // namespace berth::worker
