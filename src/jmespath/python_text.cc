#include "jmespath/python_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace berth::jmespath::internal {
namespace {

// Decodes one UTF-8 character at `i`, advancing it; an invalid byte decodes as itself.
uint32_t DecodeUtf8(std::string_view text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xE  ? 3
                  : (lead >> 3) == 0x1E ? 4
                                        : 0;
  if (length == 0 || i + length > text.size()) {
    ++i;
    return lead;
  }
  uint32_t code = length == 1   ? lead
                  : length == 2 ? (lead & 0x1F)
                  : length == 3 ? (lead & 0x0F)
                                : (lead & 0x07);
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return lead;
    }
    code = (code << 6) | (byte(i + k) & 0x3F);
  }
  i += length;
  return code;
}

void AppendUnicodeEscape(std::string& out, uint32_t unit) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(unit >> shift) & 0xF]);
}

void AppendQuoted(std::string& out, std::string_view text) {
  out.push_back('"');
  for (size_t i = 0; i < text.size();) {
    const uint32_t code = DecodeUtf8(text, i);
    switch (code) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (code >= 0x20 && code < 0x7F) {
          out.push_back(static_cast<char>(code));
        } else if (code >= 0x10000) {
          const uint32_t v = code - 0x10000;
          AppendUnicodeEscape(out, 0xD800 | (v >> 10));
          AppendUnicodeEscape(out, 0xDC00 | (v & 0x3FF));
        } else {
          AppendUnicodeEscape(out, code);
        }
    }
  }
  out.push_back('"');
}

void AppendDumps(std::string& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      out += std::to_string(value.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      out += std::to_string(value.get<uint64_t>());
      return;
    case Json::value_t::number_float:
      out += PythonFloatRepr(value.get<double>());
      return;
    case Json::value_t::string:
      AppendQuoted(out, value.get_ref<const std::string&>());
      return;
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& element : value) {
        if (!first) out.push_back(',');
        first = false;
        AppendDumps(out, element);
      }
      out.push_back(']');
      return;
    }
    case Json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, element] : value.items()) {
        if (!first) out.push_back(',');
        first = false;
        AppendQuoted(out, key);
        out.push_back(':');
        AppendDumps(out, element);
      }
      out.push_back('}');
      return;
    }
    default:
      out += "null";
  }
}

// Python's whitespace, as str.strip() and int() see it.
bool IsPythonSpace(uint32_t code) {
  return code == ' ' || (code >= 0x09 && code <= 0x0D) || (code >= 0x1C && code <= 0x1F) ||
         code == 0x85 || code == 0xA0 || code == 0x1680 || (code >= 0x2000 && code <= 0x200A) ||
         code == 0x2028 || code == 0x2029 || code == 0x202F || code == 0x205F || code == 0x3000;
}

std::string_view StripPythonSpace(std::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    size_t next = begin;
    if (!IsPythonSpace(DecodeUtf8(text, next))) break;
    begin = next;
  }
  text.remove_prefix(begin);
  // From the back: find the start of the last character each time.
  while (!text.empty()) {
    size_t start = text.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    size_t next = start;
    if (!IsPythonSpace(DecodeUtf8(text, next)) || next != text.size()) break;
    text.remove_suffix(text.size() - start);
  }
  return text;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Consumes digits with single '_' between them (PEP 515), appending the digits to `out`.
bool ConsumeDigitPart(std::string_view text, size_t& i, std::string& out) {
  if (i >= text.size() || !IsDigit(text[i])) return false;
  while (i < text.size()) {
    if (IsDigit(text[i])) {
      out.push_back(text[i++]);
    } else if (text[i] == '_' && i + 1 < text.size() && IsDigit(text[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  return true;
}

std::optional<Json> ParseInt(std::string_view text) {
  size_t i = 0;
  std::string digits;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    if (text[i] == '-') digits.push_back('-');
    ++i;
  }
  if (!ConsumeDigitPart(text, i, digits) || i != text.size()) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc()) return Json(value);
  // Beyond 64 bits Python keeps an exact integer; the nearest double is what JSON here holds.
  return Json(std::strtod(digits.c_str(), nullptr));
}

std::optional<Json> ParseFloat(std::string_view text) {
  size_t i = 0;
  std::string clean;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) clean.push_back(text[i++]);
  const bool integral = ConsumeDigitPart(text, i, clean);
  bool fraction = false;
  if (i < text.size() && text[i] == '.') {
    clean.push_back(text[i++]);
    fraction = ConsumeDigitPart(text, i, clean);
  }
  if (!integral && !fraction) return std::nullopt;  // also "inf" and "nan": not JSON numbers
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    clean.push_back(text[i++]);
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) clean.push_back(text[i++]);
    if (!ConsumeDigitPart(text, i, clean)) return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  const double value = std::strtod(clean.c_str(), nullptr);
  if (!std::isfinite(value)) return std::nullopt;
  return Json(value);
}

}  // namespace

std::string PythonJsonDumps(const Json& value) {
  std::string out;
  AppendDumps(out, value);
  return out;
}

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  auto [end, ec] =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<size_t>(end - buffer));
  // text is "[-]d[.ddd]e<sign><digits>": split into sign, digits and the decimal exponent.
  size_t i = 0;
  std::string out;
  if (text[i] == '-') {
    out.push_back('-');
    ++i;
  }
  std::string digits;
  for (; i < text.size() && text[i] != 'e'; ++i) {
    if (text[i] != '.') digits.push_back(text[i]);
  }
  int exponent = 0;
  std::from_chars(text.data() + i + (text[i + 1] == '+' ? 2 : 1), text.data() + text.size(),
                  exponent);
  // Python's repr: positional when the decimal point falls within -4 < point <= 16.
  const int point = exponent + 1;
  const int count = static_cast<int>(digits.size());
  if (point > -4 && point <= 16) {
    if (point <= 0) {
      out += "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    } else if (point >= count) {
      out += digits + std::string(static_cast<size_t>(point - count), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(point)) + "." +
             digits.substr(static_cast<size_t>(point));
    }
    return out;
  }
  out.push_back(digits[0]);
  if (count > 1) out += "." + digits.substr(1);
  out.push_back('e');
  out.push_back(exponent < 0 ? '-' : '+');
  const std::string magnitude = std::to_string(exponent < 0 ? -exponent : exponent);
  if (magnitude.size() < 2) out.push_back('0');
  out += magnitude;
  return out;
}

std::optional<Json> PythonToNumber(std::string_view text) {
  const std::string_view stripped = StripPythonSpace(text);
  if (auto integer = ParseInt(stripped)) return integer;
  return ParseFloat(stripped);
}

}  // namespace berth::jmespath::internal
