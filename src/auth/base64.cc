#include "auth/base64.h"

#include <array>
#include <cstdint>

namespace berth::auth {
namespace {

constexpr char kStandardChars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr int8_t kInvalid = -1;

// Character -> 6-bit value, kInvalid elsewhere.
constexpr std::array<int8_t, 256> ReverseTable(const char* chars) {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = kInvalid;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(chars[i])] = static_cast<int8_t>(i);
  return table;
}

constexpr std::array<int8_t, 256> kStandardReverse = ReverseTable(kStandardChars);
constexpr std::array<int8_t, 256> kUrlReverse = ReverseTable(kUrlChars);

}  // namespace

std::string Base64Encode(std::string_view data, Base64Alphabet alphabet) {
  const char* chars = alphabet == Base64Alphabet::kStandard ? kStandardChars : kUrlChars;
  const bool pad = alphabet == Base64Alphabet::kStandard;
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16 | static_cast<uint8_t>(data[i + 1]) << 8 |
                 static_cast<uint8_t>(data[i + 2]);
    out.push_back(chars[n >> 18 & 63]);
    out.push_back(chars[n >> 12 & 63]);
    out.push_back(chars[n >> 6 & 63]);
    out.push_back(chars[n & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(data[i + 1]) << 8;
    out.push_back(chars[n >> 18 & 63]);
    out.push_back(chars[n >> 12 & 63]);
    if (rest == 2) out.push_back(chars[n >> 6 & 63]);
    if (pad) out.append(rest == 1 ? "==" : "=");
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text, Base64Alphabet alphabet) {
  const auto& reverse = alphabet == Base64Alphabet::kStandard ? kStandardReverse : kUrlReverse;
  if (alphabet == Base64Alphabet::kStandard) {
    if (text.size() % 4 != 0) return std::nullopt;
    size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
      ++padding;
    }
    text.remove_suffix(padding);
  }
  // 1 leftover character carries only 6 bits: never a whole byte.
  if (text.size() % 4 == 1) return std::nullopt;

  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t bits = 0;
  int bit_count = 0;
  for (char c : text) {
    int8_t value = reverse[static_cast<unsigned char>(c)];
    if (value == kInvalid) return std::nullopt;
    bits = (bits << 6 | static_cast<uint32_t>(value)) & 0xFFFFFF;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>(bits >> bit_count & 0xFF));
    }
  }
  // Leftover bits (2 or 4) must be zero, or two texts would decode to the same bytes.
  if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace berth::auth
