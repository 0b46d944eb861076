#include "controlplane/model_api.h"

#include "common/errors.h"
#include "controlplane/api_replies.h"
#include "controlplane/management_api.h"
#include "http/errors.h"
#include "http/server.h"

namespace berth::controlplane {
namespace {

namespace bhttp = http::bhttp;
using http::ErrorResponse;
using http::Request;
using http::Response;
using nlohmann::json;

}  // namespace

Response RouteModels(ManagementService& service, const Request& req,
                     const std::vector<std::string>& parts,
                     const std::map<std::string, std::string>& query) {
  const bhttp::verb method = req.method();
  const size_t n = parts.size();
  if (n == 1) {  // /models
    if (method == bhttp::verb::get) {
      auto name = query.find("name");
      std::string model = name == query.end() ? "" : name->second;
      return ReplyListPage(
          req, query, [&](const PageRequest& page) { return service.ListModels(model, page); });
    }
    if (method == bhttp::verb::post) {
      json doc = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded()) {
        return ErrorResponse(req, InvalidField("", "the request body is not valid JSON"));
      }
      return Reply(req, service.CreateModel(doc), bhttp::status::created);
    }
    return MethodNotAllowed(req);
  }
  if (n == 3 && parts[2] == "versions") {  // /models/{name}/versions
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return ReplyListPage(
        req, query, [&](const PageRequest& page) { return service.ListModels(parts[1], page); });
  }
  if (n == 4 && parts[2] == "versions") {  // /models/{name}/versions/{version}
    const std::string& name = parts[1];
    const std::string& version = parts[3];
    if (method == bhttp::verb::get) {
      return Reply(req, service.GetModel(name, version), bhttp::status::ok);
    }
    if (method == bhttp::verb::delete_) {
      absl::Status deleted = service.DeleteModel(name, version);
      if (!deleted.ok()) return ErrorResponse(req, deleted);
      return http::MakeResponse(req, bhttp::status::no_content, "", "application/json");
    }
    return MethodNotAllowed(req);
  }
  return ErrorResponse(req, absl::NotFoundError("no API route " + std::string(req.target())));
}

}  // namespace berth::controlplane
