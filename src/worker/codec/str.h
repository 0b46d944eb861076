#pragma once
// absl::StrCat for the codec, taking std::string_view too: Debian's absl::string_view is its own
// type, and StrCat does not accept std::string_view.

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace berth::worker::codec_internal {

inline absl::string_view Piece(std::string_view s) { return absl::string_view(s.data(), s.size()); }
template <typename T>
const T& Piece(const T& v) {
  return v;
}

template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(Piece(args)...);
}

}  // namespace berth::worker::codec_internal
