#pragma once
// Base64 (RFC 4648) in the standard and URL-safe alphabets.
//
// Decoding is strict: only the alphabet's characters, padding exactly where required (or none,
// for the unpadded form), and unused trailing bits zero. So every byte string has exactly one
// accepted text, and changing any character of a token changes the bytes it decodes to.

#include <optional>
#include <string>
#include <string_view>

namespace berth::auth {

enum class Base64Alphabet {
  kStandard,  // '+' '/', padded with '='
  kUrl,       // '-' '_', unpadded (JWT style)
};

std::string Base64Encode(std::string_view data, Base64Alphabet alphabet);
// nullopt when `text` is not the canonical encoding of some bytes in `alphabet`.
std::optional<std::string> Base64Decode(std::string_view text, Base64Alphabet alphabet);

}  // namespace berth::auth
