#include "controlplane/api_replies.h"

#include "absl/strings/ascii.h"
#include "common/errors.h"
#include "core/spec_json.h"
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

bool IsYamlContentType(std::string_view content_type) {
  std::string media_type(content_type.substr(0, content_type.find(';')));
  absl::StripAsciiWhitespace(&media_type);
  absl::AsciiStrToLower(&media_type);
  return media_type == "application/yaml" || media_type == "text/yaml" ||
         media_type == "application/x-yaml";
}

absl::StatusOr<json> ParseJsonBody(const http::Request& req) {
  if (req.body().empty()) return json::object();
  auto content_type = req.find(http::bhttp::field::content_type);
  if (content_type != req.end() && IsYamlContentType(std::string_view(content_type->value()))) {
    absl::StatusOr<json> doc = core::YamlToJson(req.body());
    if (!doc.ok()) {
      return InvalidField(
          "", "the request body is not valid YAML: " + std::string(doc.status().message()));
    }
    if (!doc->is_object()) {
      return InvalidField("", std::string("the YAML body must be a mapping of fields, not ") +
                                  (doc->is_array() ? "a list" : "a single value"));
    }
    return doc;
  }
  json doc = json::parse(req.body(), nullptr, false);
  if (doc.is_discarded()) return InvalidField("", "the request body is not valid JSON");
  return doc;
}

}  // namespace berth::controlplane
