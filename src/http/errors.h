#pragma once
// The one place that maps errors to HTTP for berth's own error bodies
// (`{"error": {"code", "message", "target"}}`), used by the management API and /score.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "http/asio.h"

namespace berth::http {

std::string ErrorJson(std::string_view code, std::string_view message,
                      std::string_view target = "");

// HTTP status for an absl code: INVALID_ARGUMENT 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403,
// NOT_FOUND 404, ALREADY_EXISTS / FAILED_PRECONDITION / ABORTED 409, RESOURCE_EXHAUSTED 429,
// DEADLINE_EXCEEDED 408, UNAVAILABLE 503, UNIMPLEMENTED 501, others 500.
bhttp::status HttpStatusFor(absl::StatusCode code);

// The error response for `status`, target from berth::ErrorTarget.
Response ErrorResponse(const Request& req, const absl::Status& status);
Response ErrorResponse(const Request& req, bhttp::status http_status, std::string_view code,
                       std::string_view message);

}  // namespace berth::http
