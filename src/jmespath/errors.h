#pragma once
// How the component builds its error statuses: INVALID_ARGUMENT with the ErrorKind as a payload,
// so KindOf can tell the classes apart without parsing messages.

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "jmespath/jmespath.h"

namespace berth::jmespath::internal {

absl::Status MakeError(ErrorKind kind, std::string_view message);

// Debian's absl::string_view is not std::string_view; absl::StrCat wants the former.
inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace berth::jmespath::internal
