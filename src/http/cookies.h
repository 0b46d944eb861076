#pragma once
// Reading cookies from a request's `Cookie` header fields (RFC 6265 §5.4 shape:
// `name=value; name2=value2`, possibly over several fields).

#include <optional>
#include <string>
#include <string_view>

#include "http/asio.h"

namespace berth::http {

// The value of the first cookie called `name`, surrounding double quotes removed; nullopt when
// the request carries none.
std::optional<std::string> CookieValue(const RequestHead& head, std::string_view name);

}  // namespace berth::http
