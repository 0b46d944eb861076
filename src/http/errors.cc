#include "http/errors.h"

#include "common/errors.h"
#include "http/server.h"
#include "nlohmann/json.hpp"

namespace berth::http {
namespace {

const char* CodeName(bhttp::status status) {
  switch (status) {
    case bhttp::status::bad_request:
      return "BadArgument";
    case bhttp::status::unauthorized:
      return "Unauthorized";
    case bhttp::status::forbidden:
      return "Forbidden";
    case bhttp::status::not_found:
      return "NotFound";
    case bhttp::status::conflict:
      return "Conflict";
    case bhttp::status::request_timeout:
      return "RequestTimeout";
    case bhttp::status::payload_too_large:
      return "PayloadTooLarge";
    case bhttp::status::too_many_requests:
      return "TooManyRequests";
    case bhttp::status::not_implemented:
      return "Unsupported";  // HTTP 501
    case bhttp::status::bad_gateway:
      return "BadGateway";
    case bhttp::status::service_unavailable:
      return "ServiceUnavailable";
    default:
      return "InternalError";
  }
}

}  // namespace

std::string ErrorJson(std::string_view code, std::string_view message, std::string_view target) {
  nlohmann::json error = {{"code", code}, {"message", message}};
  if (!target.empty()) error["target"] = target;
  return nlohmann::json{{"error", error}}.dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

bhttp::status HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return bhttp::status::ok;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return bhttp::status::bad_request;
    case absl::StatusCode::kUnauthenticated:
      return bhttp::status::unauthorized;
    case absl::StatusCode::kPermissionDenied:
      return bhttp::status::forbidden;
    case absl::StatusCode::kNotFound:
      return bhttp::status::not_found;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return bhttp::status::conflict;
    case absl::StatusCode::kResourceExhausted:
      return bhttp::status::too_many_requests;
    case absl::StatusCode::kDeadlineExceeded:
      return bhttp::status::request_timeout;
    case absl::StatusCode::kUnavailable:
      return bhttp::status::service_unavailable;
    case absl::StatusCode::kUnimplemented:
      return bhttp::status::not_implemented;
    default:
      return bhttp::status::internal_server_error;
  }
}

Response ErrorResponse(const Request& req, const absl::Status& status) {
  bhttp::status http_status = HttpStatusFor(status.code());
  return MakeResponse(
      req, http_status,
      ErrorJson(CodeName(http_status), std::string(status.message()), ErrorTarget(status)),
      "application/json");
}

Response ErrorResponse(const Request& req, bhttp::status http_status, std::string_view code,
                       std::string_view message) {
  return MakeResponse(req, http_status, ErrorJson(code, message), "application/json");
}

}  // namespace berth::http

namespace berth::http {

bhttp::status OipHttpStatusFor(absl::StatusCode code) {
  // Triton's mapping: INTERNAL 500, NOT_FOUND 404, UNAVAILABLE 503, UNSUPPORTED 501, other
  // model errors 400; the gateway's own refusals keep their usual statuses.
  switch (code) {
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return bhttp::status::bad_request;
    default:
      return HttpStatusFor(code);
  }
}

std::string OipErrorJson(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
}

Response OipErrorResponse(const Request& req, const absl::Status& status) {
  return MakeResponse(req, OipHttpStatusFor(status.code()),
                      OipErrorJson(std::string(status.message())), "application/json");
}

Response OipErrorResponse(const Request& req, bhttp::status http_status, std::string_view message) {
  return MakeResponse(req, http_status, OipErrorJson(message), "application/json");
}

}  // namespace berth::http
