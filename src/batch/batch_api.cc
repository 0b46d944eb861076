#include "batch/batch_api.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/errors.h"
#include "controlplane/api_replies.h"
#include "core/spec.h"
#include "http/errors.h"
#include "http/server.h"

namespace berth::batch {
namespace {

namespace bhttp = http::bhttp;
using controlplane::JsonResponse;
using controlplane::MethodNotAllowed;
using controlplane::PageRequest;
using controlplane::ParseJsonBody;
using controlplane::Reply;
using controlplane::ReplyListPage;
using controlplane::ReplyWritten;
using http::ErrorResponse;
using http::Request;
using http::Response;
using nlohmann::json;
using Query = std::map<std::string, std::string>;

Response NoRoute(const Request& req) {
  return ErrorResponse(req, absl::NotFoundError("no API route " + std::string(req.target())));
}

std::string QueryValue(const Query& query, const std::string& name) {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

// A boolean query parameter: absent, "false" or "0" is false; "true", "1" or "" (present with
// no value) is true.
absl::StatusOr<bool> QueryFlag(const Query& query, const std::string& name) {
  auto it = query.find(name);
  if (it == query.end()) return false;
  const std::string value = absl::AsciiStrToLower(it->second);
  if (value.empty() || value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return InvalidField(name, "must be true or false, got '" + it->second + "'");
}

std::string Header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? "" : std::string(it->value());
}

const char* AzureDataType(const std::string& type) {
  return type == "uri_file" ? "UriFile" : "UriFolder";
}

}  // namespace

json AzureJobJson(const json& view) {
  const std::string endpoint = view.value("endpoint_name", "");
  const std::string name = view.value("name", "");
  const json& input = view["inputs"]["input_data"];
  const std::string output_uri = view["outputs"]["score"].value("path", "");
  json output = {{"path", output_uri}};
  std::string trimmed = output_uri;
  if (!trimmed.empty() && trimmed.back() == '/') trimmed.pop_back();
  if (auto parsed = core::ParseDatastorePath(trimmed, "output"); parsed.ok()) {
    output = {{"datastoreId", parsed->datastore}, {"path", parsed->path}};
  }
  return {{"id", "/batch-endpoints/" + endpoint + "/jobs/" + name},
          {"name", name},
          {"type", "Microsoft.MachineLearningServices/workspaces/batchEndpoints/jobs"},
          {"properties",
           {{"status", view.value("status", "")},
            {"provisioningState", "Succeeded"},
            {"endpointName", endpoint},
            {"deploymentName", view.value("deployment_name", "")},
            {"compute", view.value("compute", "")},
            {"description", view.value("description", "")},
            {"tags", view.value("tags", json::object())},
            {"properties", {{"experimentName", view.value("experiment_name", "")}}},
            {"inputData",
             {{"input_data",
               {{"jobInputType", AzureDataType(input.value("type", ""))},
                {"uri", input.value("path", "")}}}}},
            {"outputData", {{"score", {{"jobOutputType", "UriFolder"}, {"uri", output_uri}}}}},
            {"output", std::move(output)},
            {"error", view.value("error", "")},
            {"createdAt", view.value("created_at", "")},
            {"startedAt", view.value("started_at", "")},
            {"endedAt", view.value("ended_at", "")}}}};
}

bool BatchApi::Owns(const std::vector<std::string>& parts, bool public_path) const {
  if (parts.empty()) return false;
  if (public_path) return parts[0] == "batch-endpoints";
  return parts[0] == "batch-endpoints" || parts[0] == "computes" || parts[0] == "data" ||
         parts[0] == "jobs";
}

Response BatchApi::Route(const Request& req, const std::vector<std::string>& parts,
                         const Query& query, bool public_path) {
  if (public_path) return RoutePublic(req, parts);
  if (parts[0] == "batch-endpoints") return RouteEndpoints(req, parts, query);
  if (parts[0] == "computes") return RouteComputes(req, parts, query);
  if (parts[0] == "data") return RouteData(req, parts, query);
  return RouteJobs(req, parts, query);
}

Response BatchApi::RouteEndpoints(const Request& req, const std::vector<std::string>& parts,
                                  const Query& query) {
  const bhttp::verb method = req.method();
  const size_t n = parts.size();
  if (n == 1) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return ReplyListPage(req, query,
                         [&](const PageRequest& page) { return service_.ListEndpoints(page); });
  }
  const std::string& endpoint = parts[1];
  if (n == 2) {
    switch (method) {
      case bhttp::verb::get:
        return Reply(req, service_.GetEndpoint(endpoint), bhttp::status::ok);
      case bhttp::verb::put:
      case bhttp::verb::patch: {
        auto body = ParseJsonBody(req);
        if (!body.ok()) return ErrorResponse(req, body.status());
        return ReplyWritten(req,
                            service_.ApplyEndpoint(endpoint, *body, method == bhttp::verb::put));
      }
      case bhttp::verb::delete_:
        return Reply(req, service_.DeleteEndpoint(endpoint), bhttp::status::ok);
      default:
        return MethodNotAllowed(req);
    }
  }
  if (n == 3 && parts[2] == "jobs") {
    if (method == bhttp::verb::get) {
      return ReplyListPage(req, query, [&](const PageRequest& page) {
        return service_.ListEndpointJobs(endpoint, "", page);
      });
    }
    if (method == bhttp::verb::post) {
      auto body = ParseJsonBody(req);
      if (!body.ok()) return ErrorResponse(req, body.status());
      return Reply(req, service_.Invoke(endpoint, *body, Header(req, kDeploymentHeader)),
                   bhttp::status::created);
    }
    return MethodNotAllowed(req);
  }
  if (parts[2] != "deployments") return NoRoute(req);
  if (n == 3) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return ReplyListPage(req, query, [&](const PageRequest& page) {
      return service_.ListDeployments(endpoint, page);
    });
  }
  const std::string& deployment = parts[3];
  if (n == 4) {
    switch (method) {
      case bhttp::verb::get:
        return Reply(req, service_.GetDeployment(endpoint, deployment), bhttp::status::ok);
      case bhttp::verb::put:
      case bhttp::verb::patch: {
        auto set_default = QueryFlag(query, "set_default");
        if (!set_default.ok()) return ErrorResponse(req, set_default.status());
        auto body = ParseJsonBody(req);
        if (!body.ok()) return ErrorResponse(req, body.status());
        return ReplyWritten(
            req, service_.ApplyDeployment(endpoint, deployment, *body, method == bhttp::verb::put,
                                          *set_default));
      }
      case bhttp::verb::delete_:
        return Reply(req, service_.DeleteDeployment(endpoint, deployment), bhttp::status::ok);
      default:
        return MethodNotAllowed(req);
    }
  }
  if (n == 5 && parts[4] == "jobs") {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return ReplyListPage(req, query, [&](const PageRequest& page) {
      return service_.ListEndpointJobs(endpoint, deployment, page);
    });
  }
  return NoRoute(req);
}

Response BatchApi::RouteComputes(const Request& req, const std::vector<std::string>& parts,
                                 const Query& query) {
  const bhttp::verb method = req.method();
  if (parts.size() == 1) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return ReplyListPage(req, query,
                         [&](const PageRequest& page) { return service_.ListComputes(page); });
  }
  if (parts.size() != 2) return NoRoute(req);
  const std::string& name = parts[1];
  switch (method) {
    case bhttp::verb::get:
      return Reply(req, service_.GetCompute(name), bhttp::status::ok);
    case bhttp::verb::put: {
      auto body = ParseJsonBody(req);
      if (!body.ok()) return ErrorResponse(req, body.status());
      return ReplyWritten(req, service_.PutCompute(name, *body));
    }
    case bhttp::verb::delete_:
      return Reply(req, service_.DeleteCompute(name), bhttp::status::ok);
    default:
      return MethodNotAllowed(req);
  }
}

Response BatchApi::RouteData(const Request& req, const std::vector<std::string>& parts,
                             const Query& query) {
  const bhttp::verb method = req.method();
  const size_t n = parts.size();
  if (n == 1) {
    if (method == bhttp::verb::get) {
      const std::string name = QueryValue(query, "name");
      return ReplyListPage(req, query,
                           [&](const PageRequest& page) { return service_.ListData(name, page); });
    }
    if (method == bhttp::verb::post) {
      auto body = ParseJsonBody(req);
      if (!body.ok()) return ErrorResponse(req, body.status());
      return Reply(req, service_.CreateData(*body), bhttp::status::created);
    }
    return MethodNotAllowed(req);
  }
  if (n < 3 || parts[2] != "versions") return NoRoute(req);
  const std::string& name = parts[1];
  if (n == 3) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return ReplyListPage(req, query,
                         [&](const PageRequest& page) { return service_.ListData(name, page); });
  }
  const std::string& version = parts[3];
  if (n == 4) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return Reply(req, service_.GetData(name, version), bhttp::status::ok);
  }
  if (n == 5 && parts[4] == "archive") {
    if (method != bhttp::verb::post) return MethodNotAllowed(req);
    return Reply(req, service_.ArchiveData(name, version), bhttp::status::ok);
  }
  return NoRoute(req);
}

Response BatchApi::RouteJobs(const Request& req, const std::vector<std::string>& parts,
                             const Query& query) {
  const bhttp::verb method = req.method();
  const size_t n = parts.size();
  if (n == 1) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    const std::string endpoint = QueryValue(query, "endpoint");
    const std::string deployment = QueryValue(query, "deployment");
    return ReplyListPage(req, query, [&](const PageRequest& page) {
      return service_.ListJobs(endpoint, deployment, page);
    });
  }
  const std::string& job = parts[1];
  if (n == 2) {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return Reply(req, service_.GetJob(job), bhttp::status::ok);
  }
  if (n != 3) return NoRoute(req);
  if (parts[2] == "cancel") {
    if (method != bhttp::verb::post) return MethodNotAllowed(req);
    return Reply(req, service_.CancelJob(job), bhttp::status::ok);
  }
  if (parts[2] == "log") {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    int64_t offset = 0;
    if (auto it = query.find("offset");
        it != query.end() && !absl::SimpleAtoi(it->second, &offset)) {
      return ErrorResponse(req, InvalidField("offset", "must be an integer"));
    }
    return Reply(req, service_.JobLog(job, offset), bhttp::status::ok);
  }
  if (parts[2] == "download") {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    auto all = QueryFlag(query, "all");
    if (!all.ok()) return ErrorResponse(req, all.status());
    auto tar = service_.DownloadJob(job, QueryValue(query, "output"), *all);
    if (!tar.ok()) return ErrorResponse(req, tar.status());
    Response res = http::MakeResponse(req, bhttp::status::ok, *std::move(tar), "application/x-tar");
    res.set(bhttp::field::content_disposition, "attachment; filename=\"" + job + ".tar\"");
    return res;
  }
  return NoRoute(req);
}

Response BatchApi::RoutePublic(const Request& req, const std::vector<std::string>& parts) {
  const bhttp::verb method = req.method();
  const size_t n = parts.size();
  if (n < 3 || parts[2] != "jobs" || n > 4) return NoRoute(req);
  const std::string& endpoint = parts[1];
  if (n == 3) {
    if (method != bhttp::verb::post) return MethodNotAllowed(req);
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(req, body.status());
    auto view = service_.Invoke(endpoint, *body, Header(req, kDeploymentHeader));
    if (!view.ok()) return ErrorResponse(req, view.status());
    return JsonResponse(req, bhttp::status::created, AzureJobJson(*view));
  }
  if (method != bhttp::verb::get) return MethodNotAllowed(req);
  auto view = service_.GetJob(parts[3]);
  if (!view.ok()) return ErrorResponse(req, view.status());
  if (!core::SameName(view->value("endpoint_name", ""), endpoint)) {
    return ErrorResponse(
        req, absl::NotFoundError("job '" + parts[3] + "' not found in batch endpoint '" + endpoint +
                                 "'"));
  }
  return JsonResponse(req, bhttp::status::ok, AzureJobJson(*view));
}

}  // namespace berth::batch
