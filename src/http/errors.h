#pragma once
// The one place that maps errors to HTTP: berth's own error bodies
// (`{"error": {"code", "message", "target"}}`), used by the management API and /score, and the
// Open Inference Protocol's (`{"error": "..."}`), used on /v2 routes by berthd and berth-worker.

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

// OIP: HttpStatusFor, except that a model's FAILED_PRECONDITION / ALREADY_EXISTS / ABORTED
// are 400 (Triton: everything but INTERNAL, NOT_FOUND, UNAVAILABLE, UNIMPLEMENTED is 400).
bhttp::status OipHttpStatusFor(absl::StatusCode code);
std::string OipErrorJson(std::string_view message);
Response OipErrorResponse(const Request& req, const absl::Status& status);
Response OipErrorResponse(const Request& req, bhttp::status http_status, std::string_view message);

}  // namespace berth::http
