#include "controlplane/api_replies.h"

#include "common/errors.h"
#include "http/errors.h"
#include "http/server.h"

namespace berth::controlplane {

using nlohmann::json;

http::Response JsonResponse(const http::Request& req, http::bhttp::status status,
                            const json& body) {
  return http::MakeResponse(req, status,
                            body.dump(2, ' ', false, json::error_handler_t::replace) + "\n",
                            "application/json");
}

http::Response Reply(const http::Request& req, const absl::StatusOr<json>& result,
                     http::bhttp::status ok_status) {
  if (!result.ok()) return http::ErrorResponse(req, result.status());
  return JsonResponse(req, ok_status, *result);
}

http::Response MethodNotAllowed(const http::Request& req) {
  return http::ErrorResponse(req, http::bhttp::status::method_not_allowed, "MethodNotAllowed",
                             "method " + std::string(req.method_string()) + " is not allowed on " +
                                 std::string(req.target()));
}

absl::StatusOr<json> ParseJsonBody(const http::Request& req) {
  if (req.body().empty()) return json::object();
  json doc = json::parse(req.body(), nullptr, false);
  if (doc.is_discarded()) return InvalidField("", "the request body is not valid JSON");
  return doc;
}

}  // namespace berth::controlplane
