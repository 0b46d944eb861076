#include "worker/codec/json_write.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

namespace berth::worker::json_out {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t min;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  uint32_t cp = b0 & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

void AppendEscapedByte(unsigned char c, std::string* out) {
  const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
  out->append(esc, 6);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3FF;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float Bf16ToFloat(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the data may not be aligned for T
  return v;
}

// Calls f(value) for every element of `t`, typed: bool, an integer of at least int width, float,
// double or std::string_view.
template <typename F>
void VisitElements(const Tensor& t, F&& f) {
  const char* p = t.data.data();
  const size_t n = t.data.size();
  switch (t.datatype) {
    case DataType::kBool:
      for (size_t i = 0; i < n; ++i) f(p[i] != 0);
      return;
    case DataType::kUint8:
      for (size_t i = 0; i < n; ++i) f(static_cast<unsigned>(static_cast<unsigned char>(p[i])));
      return;
    case DataType::kInt8:
      for (size_t i = 0; i < n; ++i) f(static_cast<int>(static_cast<signed char>(p[i])));
      return;
    case DataType::kUint16:
      for (size_t i = 0; i + 2 <= n; i += 2) f(static_cast<unsigned>(Load<uint16_t>(p + i)));
      return;
    case DataType::kInt16:
      for (size_t i = 0; i + 2 <= n; i += 2) f(static_cast<int>(Load<int16_t>(p + i)));
      return;
    case DataType::kUint32:
      for (size_t i = 0; i + 4 <= n; i += 4) f(Load<uint32_t>(p + i));
      return;
    case DataType::kInt32:
      for (size_t i = 0; i + 4 <= n; i += 4) f(Load<int32_t>(p + i));
      return;
    case DataType::kUint64:
      for (size_t i = 0; i + 8 <= n; i += 8) f(Load<uint64_t>(p + i));
      return;
    case DataType::kInt64:
      for (size_t i = 0; i + 8 <= n; i += 8) f(Load<int64_t>(p + i));
      return;
    case DataType::kFp16:
      for (size_t i = 0; i + 2 <= n; i += 2) f(HalfToFloat(Load<uint16_t>(p + i)));
      return;
    case DataType::kBf16:
      for (size_t i = 0; i + 2 <= n; i += 2) f(Bf16ToFloat(Load<uint16_t>(p + i)));
      return;
    case DataType::kFp32:
      for (size_t i = 0; i + 4 <= n; i += 4) f(Load<float>(p + i));
      return;
    case DataType::kFp64:
      for (size_t i = 0; i + 8 <= n; i += 8) f(Load<double>(p + i));
      return;
    case DataType::kBytes:
      for (std::string_view e : BytesElements(t)) f(e);
      return;
  }
}

// Writes one element; the buffers hold the longest text each type can produce.
void AppendValue(bool v, std::string* out) { out->append(v ? "true" : "false"); }
void AppendValue(std::string_view v, std::string* out) { AppendJsonString(v, out); }

template <typename T>
void AppendValue(T v, std::string* out) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) {
      out->append("null");
      return;
    }
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Rough text size per element, so the output grows once per tensor instead of by doubling.
size_t EstimatedChars(const Tensor& t) {
  switch (t.datatype) {
    case DataType::kBool:
      return t.data.size() * 6;
    case DataType::kBytes:
      return t.data.size() * 2;
    default: {
      const size_t size = ElementSize(t.datatype);
      return size == 0 ? 0 : t.data.size() / size * (size <= 2 ? 7 : 14);
    }
  }
}

void AppendEmptyNested(std::span<const int64_t> shape, std::string* out) {
  out->push_back('[');
  if (shape.size() > 1) {
    for (int64_t i = 0; i < shape[0]; ++i) {
      if (i > 0) out->push_back(',');
      AppendEmptyNested(shape.subspan(1), out);
    }
  }
  out->push_back(']');
}

}  // namespace

void AppendJsonString(std::string_view text, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    // Copy the longest run that needs no escaping in one append.
    size_t run = i;
    while (run < text.size()) {
      const auto c = static_cast<unsigned char>(text[run]);
      if (c < 0x20 || c == '"' || c == '\\') break;
      if (c >= 0x80) {
        const size_t len = Utf8SequenceLength(text, run);
        if (len == 0) break;
        run += len;
      } else {
        ++run;
      }
    }
    out->append(text.data() + i, run - i);
    i = run;
    if (i == text.size()) break;
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        AppendEscapedByte(c, out);  // control character or a byte outside valid UTF-8
    }
    ++i;
  }
  out->push_back('"');
}

void AppendFlatData(const Tensor& tensor, std::string* out) {
  if (tensor.datatype == DataType::kBytes || tensor.datatype == DataType::kBool) {
    out->reserve(out->size() + EstimatedChars(tensor) + 2);
    out->push_back('[');
    bool first = true;
    VisitElements(tensor, [&](auto v) {
      if (!first) out->push_back(',');
      first = false;
      AppendValue(v, out);
    });
    out->push_back(']');
    return;
  }
  // Numbers: grow once to the longest possible text and write in place, then trim.
  constexpr size_t kMaxChars = 32;  // one number and its comma
  const size_t count = tensor.data.size() / ElementSize(tensor.datatype);
  const size_t start = out->size();
  out->resize(start + 2 + count * kMaxChars);
  char* const begin = out->data() + start;
  char* p = begin;
  char* const end = out->data() + out->size();
  *p++ = '[';
  VisitElements(tensor, [&](auto v) {
    if constexpr (std::is_floating_point_v<decltype(v)>) {
      if (!std::isfinite(v)) {
        std::memcpy(p, "null", 4);
        p += 4;
        *p++ = ',';
        return;
      }
    }
    if constexpr (!std::is_same_v<decltype(v), bool> &&
                  !std::is_same_v<decltype(v), std::string_view>) {
      p = std::to_chars(p, end, v).ptr;
      *p++ = ',';
    }
  });
  if (count > 0) --p;  // the last comma
  *p++ = ']';
  out->resize(start + static_cast<size_t>(p - begin));
}

void AppendNestedData(const Tensor& tensor, std::string* out) {
  const std::span<const int64_t> shape = tensor.shape;
  const size_t rank = shape.size();
  if (rank == 0) {
    VisitElements(tensor, [&](auto v) { AppendValue(v, out); });
    return;
  }
  if (ElementCount(shape) == 0) {
    AppendEmptyNested(shape, out);
    return;
  }
  // block[d]: elements under one index of dimension d. Before element i, every dimension whose
  // block i starts closes its previous list and opens a new one.
  std::vector<int64_t> block(rank);
  int64_t b = 1;
  for (size_t d = rank; d-- > 0;) {
    b *= shape[d];
    block[d] = b;
  }
  out->reserve(out->size() + EstimatedChars(tensor) + 2 * rank);
  int64_t i = 0;
  VisitElements(tensor, [&](auto v) {
    size_t opens = rank;
    if (i > 0) {
      opens = 0;
      for (size_t d = 0; d < rank; ++d) {
        if (i % block[d] == 0) ++opens;
      }
      out->append(opens, ']');
      out->push_back(',');
    }
    out->append(opens, '[');
    AppendValue(v, out);
    ++i;
  });
  out->append(rank, ']');
}

}  // namespace berth::worker::json_out
