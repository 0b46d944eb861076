#include "controlplane/management_api.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "auth/secrets.h"
#include "common/errors.h"
#include "controlplane/api_replies.h"
#include "controlplane/metrics_history_api.h"
#include "controlplane/model_api.h"
#include "http/errors.h"
#include "http/server.h"
#include "studio/studio_handler.h"

namespace berth::controlplane {

namespace asio = http::asio;
namespace bhttp = http::bhttp;
using http::ErrorResponse;
using http::Request;
using http::Response;
using nlohmann::json;

namespace {

std::string UrlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int value = 0;
      if (absl::SimpleHexAtoi(std::string(s.substr(i + 1, 2)), &value)) {
        out += static_cast<char>(value);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

}  // namespace

Response ReplyListPage(const Request& req, const std::map<std::string, std::string>& query,
                       const std::function<absl::StatusOr<Page>(const PageRequest&)>& list) {
  absl::StatusOr<PageRequest> request = ParsePageRequest(query);
  if (!request.ok()) return ErrorResponse(req, request.status());
  absl::StatusOr<Page> page = list(*request);
  if (!page.ok()) return ErrorResponse(req, page.status());
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  auto host = req.find(bhttp::field::host);
  return JsonResponse(
      req, bhttp::status::ok,
      PageJson(*std::move(page), *request, path, query,
               host == req.end() ? std::string_view() : std::string_view(host->value())));
}

ManagementApi::ManagementApi(ManagementService& service, ArtifactStore& artifacts,
                             gateway::Metrics& metrics, std::string admin_token_sha256,
                             asio::thread_pool& blocking_pool)
    : service_(service),
      artifacts_(artifacts),
      metrics_(metrics),
      admin_token_sha256_(std::move(admin_token_sha256)),
      blocking_pool_(blocking_pool) {}

const std::vector<std::string>& ManagementApi::PublicPrefixes() {
  static const std::vector<std::string> prefixes = {"/batch-endpoints/"};
  return prefixes;
}

bool ManagementApi::Matches(std::string_view target) {
  for (const std::string& prefix : PublicPrefixes()) {
    if (target.starts_with(prefix)) return true;
  }
  return target.starts_with("/api/v1/") || target == "/api/v1" || target == "/metrics" ||
         target.starts_with("/metrics?");
}

http::Awaitable<Response> ManagementApi::Handle(Request& req) {
  co_return co_await asio::co_spawn(
      blocking_pool_,
      [this, &req]() -> http::Awaitable<Response> { co_return HandleBlocking(req); },
      asio::use_awaitable);
}

Response ManagementApi::HandleBlocking(const Request& req) {
  auto auth = req.find(bhttp::field::authorization);
  std::string credential;
  if (auth != req.end() && absl::StartsWithIgnoreCase(std::string(auth->value()), "bearer ")) {
    credential = std::string(auth->value()).substr(7);
  }
  // Without an Authorization header, the studio's session cookie may stand in for the token.
  std::optional<std::string> session;
  if (auth == req.end() && sessions_ != nullptr) session = studio::LiveSession(*sessions_, req);
  if (!session && (credential.empty() ||
                   !auth::ConstantTimeEquals(auth::Sha256Hex(credential), admin_token_sha256_))) {
    Response res = ErrorResponse(
        req, absl::UnauthenticatedError(
                 credential.empty()
                     ? "the management API needs the admin token: 'Authorization: Bearer <token>' "
                       "(see <data-dir>/admin-token)"
                     : "invalid admin token"));
    res.set(bhttp::field::www_authenticate, "Bearer");
    return res;
  }
  // A cookie rides along on any request the browser makes, a cross-site one included; the CSRF
  // token only the studio's own scripts can read.
  if (session && req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    auto csrf = req.find(studio::kCsrfHeader);
    if (csrf == req.end() || !sessions_->CsrfMatches(*session, std::string(csrf->value()))) {
      return ErrorResponse(req, bhttp::status::forbidden, "Forbidden",
                           "missing or wrong CSRF token");
    }
  }
  std::string_view target = req.target();
  std::map<std::string, std::string> query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    std::vector<std::string> pairs =
        absl::StrSplit(std::string(target.substr(q + 1)), '&', absl::SkipEmpty());
    for (const std::string& pair : pairs) {
      std::string_view pair_view = pair;
      auto eq = pair_view.find('=');
      query[UrlDecode(pair_view.substr(0, eq))] =
          eq == std::string_view::npos ? "" : UrlDecode(pair_view.substr(eq + 1));
    }
    target = target.substr(0, q);
  }
  if (target == "/metrics") {
    if (req.method() != bhttp::verb::get) return MethodNotAllowed(req);
    return http::MakeResponse(req, bhttp::status::ok, metrics_.RenderPrometheus(),
                              gateway::Metrics::kContentType);
  }
  const bool public_path = !target.starts_with("/api/v1");
  std::vector<std::string> parts;
  std::vector<std::string> pieces = absl::StrSplit(
      std::string(target.substr(public_path ? 0 : std::string_view("/api/v1").size())), '/',
      absl::SkipEmpty());
  for (const std::string& part : pieces) {
    parts.push_back(UrlDecode(part));
  }
  try {
    for (ApiRoutes* routes : extra_routes_) {
      if (routes->Owns(parts, public_path)) return routes->Route(req, parts, query, public_path);
    }
    if (public_path) {
      return ErrorResponse(req, absl::NotFoundError("no route " + std::string(req.target())));
    }
    return Route(req, parts, query);
  } catch (const std::exception& e) {
    return ErrorResponse(req, absl::InternalError(e.what()));
  }
}

Response ManagementApi::PostArtifact(const Request& req) {
  // Browsers without crypto.subtle (plain HTTP off loopback) cannot hash the tar, so berthd
  // names it; storing is then exactly PUT's, with the same checks.
  const std::string digest = "sha256:" + auth::Sha256Hex(req.body());
  const bool had = artifacts_.Has(digest);
  if (absl::Status stored = artifacts_.Put(digest, req.body()); !stored.ok()) {
    return ErrorResponse(req, stored);
  }
  return JsonResponse(req, had ? bhttp::status::ok : bhttp::status::created,
                      json{{"digest", digest}, {"size", req.body().size()}});
}

Response ManagementApi::Route(const Request& req, const std::vector<std::string>& parts,
                              const std::map<std::string, std::string>& query) {
  const bhttp::verb method = req.method();
  const size_t n = parts.size();
  auto not_found = [&] {
    return ErrorResponse(req, absl::NotFoundError("no API route " + std::string(req.target())));
  };
  if (n == 1 && parts[0] == "openapi.json") {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    return http::MakeResponse(req, bhttp::status::ok, ManagementOpenApiJson(), "application/json");
  }
  if (n == 1 && parts[0] == "artifacts") {
    if (method != bhttp::verb::post) return MethodNotAllowed(req);
    return PostArtifact(req);
  }
  if (n == 2 && parts[0] == "artifacts") {
    const std::string& digest = parts[1];
    if (auto hex = DigestHex(digest); !hex.ok()) return ErrorResponse(req, hex.status());
    if (method == bhttp::verb::head || method == bhttp::verb::get) {
      bool has = artifacts_.Has(digest);
      Response res = http::MakeResponse(req, has ? bhttp::status::ok : bhttp::status::not_found, "",
                                        "application/json");
      return res;
    }
    if (method == bhttp::verb::put) {
      bool had = artifacts_.Has(digest);
      absl::Status stored = artifacts_.Put(digest, req.body());
      if (!stored.ok()) return ErrorResponse(req, stored);
      return JsonResponse(req, had ? bhttp::status::ok : bhttp::status::created,
                          json{{"digest", digest}});
    }
    return MethodNotAllowed(req);
  }
  if (n >= 1 && parts[0] == "models") return RouteModels(service_, req, parts, query);
  if (n == 0 || parts[0] != "online-endpoints") return not_found();

  if (n == 1) {
    if (method == bhttp::verb::get) {
      return ReplyListPage(req, query,
                           [&](const PageRequest& page) { return service_.ListEndpoints(page); });
    }
    if (method == bhttp::verb::post) {
      auto body = ParseJsonBody(req);
      if (!body.ok()) return ErrorResponse(req, body.status());
      return ReplyWritten(req, service_.CreateEndpoint(*body));
    }
    return MethodNotAllowed(req);
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
        return Reply(req, service_.DeleteEndpoint(endpoint), bhttp::status::accepted);
      default:
        return MethodNotAllowed(req);
    }
  }
  if (n == 3 && parts[2] == "keys") {
    if (method != bhttp::verb::get && method != bhttp::verb::post) return MethodNotAllowed(req);
    return Reply(req, service_.GetKeys(endpoint), bhttp::status::ok);
  }
  if (n == 3 && parts[2] == "regenerate-keys") {
    if (method != bhttp::verb::post) return MethodNotAllowed(req);
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(req, body.status());
    std::string key_type = "primary";
    if (body->contains("key_type")) {
      if (!(*body)["key_type"].is_string()) {
        return ErrorResponse(req, InvalidField("key_type", "must be 'primary' or 'secondary'"));
      }
      key_type = (*body)["key_type"].get<std::string>();
    }
    return Reply(req, service_.RegenerateKeys(endpoint, key_type), bhttp::status::ok);
  }
  if (n == 3 && parts[2] == "token") {
    if (method != bhttp::verb::post && method != bhttp::verb::get) return MethodNotAllowed(req);
    return Reply(req, service_.IssueToken(endpoint), bhttp::status::ok);
  }
  if (parts[2] != "deployments") return not_found();
  if (n == 3) {
    if (method == bhttp::verb::get) {
      return ReplyListPage(req, query, [&](const PageRequest& page) {
        return service_.ListDeployments(endpoint, page);
      });
    }
    if (method == bhttp::verb::post) {
      auto body = ParseJsonBody(req);
      if (!body.ok()) return ErrorResponse(req, body.status());
      return ReplyWritten(req, service_.CreateDeployment(endpoint, *body));
    }
    return MethodNotAllowed(req);
  }
  const std::string& deployment = parts[3];
  if (n == 4) {
    switch (method) {
      case bhttp::verb::get:
        return Reply(req, service_.GetDeployment(endpoint, deployment), bhttp::status::ok);
      case bhttp::verb::put:
      case bhttp::verb::patch: {
        auto body = ParseJsonBody(req);
        if (!body.ok()) return ErrorResponse(req, body.status());
        return ReplyWritten(
            req, service_.ApplyDeployment(endpoint, deployment, *body, method == bhttp::verb::put));
      }
      case bhttp::verb::delete_:
        return Reply(req, service_.DeleteDeployment(endpoint, deployment), bhttp::status::accepted);
      default:
        return MethodNotAllowed(req);
    }
  }
  if (n == 5 && parts[4] == "metrics") {
    if (metrics_history_ == nullptr) {
      return ErrorResponse(req, absl::UnavailableError("this berthd keeps no metrics history"));
    }
    return ReplyMetricsHistory(service_, *metrics_history_, req, endpoint, deployment, query);
  }
  if (n == 5 && parts[4] == "logs") {
    if (method != bhttp::verb::get) return MethodNotAllowed(req);
    int lines = 100;
    int64_t instance = 0;
    if (auto it = query.find("lines"); it != query.end() && !absl::SimpleAtoi(it->second, &lines)) {
      return ErrorResponse(req, InvalidField("lines", "must be an integer"));
    }
    if (auto it = query.find("instance");
        it != query.end() && !absl::SimpleAtoi(it->second, &instance)) {
      return ErrorResponse(req, InvalidField("instance", "must be an integer"));
    }
    const auto container = query.find("container");
    auto logs = service_.GetLogs(endpoint, deployment, lines, instance,
                                 container == query.end() ? "inference-server" : container->second);
    if (!logs.ok()) return ErrorResponse(req, logs.status());
    return http::MakeResponse(req, bhttp::status::ok, *logs, "text/plain; charset=utf-8");
  }
  return not_found();
}

}  // namespace berth::controlplane
