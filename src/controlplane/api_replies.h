#pragma once
// The answers the management API's REST adapters share (ManagementApi, the model routes, the
// batch routes): JSON bodies, errors through http/errors.h, 405, and request body parsing.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "http/asio.h"
#include "nlohmann/json.hpp"

namespace berth::controlplane {

// `body` pretty-printed as application/json (invalid UTF-8 replaced).
http::Response JsonResponse(const http::Request& req, http::bhttp::status status,
                            const nlohmann::json& body);

// The value with `ok_status`, or the error mapped by http/errors.h.
http::Response Reply(const http::Request& req, const absl::StatusOr<nlohmann::json>& result,
                     http::bhttp::status ok_status);

// A create-or-update answer: 201 when `created`, else 200, with the view.
template <typename Written>
http::Response ReplyWritten(const http::Request& req, const absl::StatusOr<Written>& result) {
  if (!result.ok()) return Reply(req, result.status(), http::bhttp::status::ok);
  return JsonResponse(req, result->created ? http::bhttp::status::created : http::bhttp::status::ok,
                      result->view);
}

// 405 naming the method and the path.
http::Response MethodNotAllowed(const http::Request& req);

// Whether a Content-Type names YAML: application/yaml, text/yaml or application/x-yaml
// (parameters and case ignored).
bool IsYamlContentType(std::string_view content_type);

// The request's body as JSON ({} when empty). A YAML Content-Type (IsYamlContentType) is
// converted by core::YamlToJson and must be a mapping; anything else is read as JSON.
// INVALID_ARGUMENT when it is neither: a YAML error names the line and column.
absl::StatusOr<nlohmann::json> ParseJsonBody(const http::Request& req);

}  // namespace berth::controlplane
