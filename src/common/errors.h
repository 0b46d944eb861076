#pragma once
// Error values that cross component boundaries. A field-level error carries the field path
// ("request_settings.request_timeout_ms") as a payload so protocol adapters can report it as
// `target` without parsing messages.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace berth {

// INVALID_ARGUMENT whose message starts with the field path: "<path>: <message>".
absl::Status InvalidField(std::string_view path, std::string_view message);

// Attaches (or replaces) the field path of an error.
absl::Status WithTarget(absl::Status status, std::string_view path);

// The field path attached by InvalidField/WithTarget, or "" if none.
std::string ErrorTarget(const absl::Status& status);

// Prefixes the message with `context: `, keeping code and payloads.
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace berth
