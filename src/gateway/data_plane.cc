#include "gateway/data_plane.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "http/errors.h"
#include "http/server.h"

namespace berth::gateway {

namespace asio = http::asio;
namespace bhttp = http::bhttp;
using http::Awaitable;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kDeploymentHeader = "azureml-model-deployment";
constexpr std::string_view kPrefix = "/endpoints/";

// Which error shape a route speaks: berth's (/score, /swagger.json) or the Open Inference
// Protocol's (/v2/...).
enum class Wire { kBerth, kOip };

// A data-plane target taken apart.
struct DataPlaneRoute {
  std::string endpoint;
  std::string_view action;  // after "/endpoints/<endpoint>/", without the query
  std::string_view query;
  bool known = false;  // one of the routes served
  Wire wire = Wire::kBerth;
  CallKind kind = CallKind::kScore;
  HttpTarget target = HttpTarget::kScoringRoute;
  std::vector<bhttp::verb> methods;  // methods the route accepts
};

bool NonEmpty(const std::vector<std::string>& parts, size_t from, size_t to) {
  for (size_t i = from; i < to; ++i) {
    if (parts[i].empty()) return false;
  }
  return true;
}

// The Open Inference Protocol's routes (health, metadata, readiness, statistics, infer), as
// `action` = "v2/...". Anything else under /v2 is not served.
bool MatchOip(std::string_view action, DataPlaneRoute& route) {
  route.wire = Wire::kOip;
  route.target = HttpTarget::kAsGiven;
  route.kind = CallKind::kOipOther;
  route.methods = {bhttp::verb::get};
  if (action == "v2" || action == "v2/" || action == "v2/health/live" ||
      action == "v2/health/ready" || action == "v2/models/stats") {
    return true;
  }
  if (!action.starts_with("v2/models/")) return false;
  std::string_view models = action.substr(std::string_view("v2/models/").size());
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(models.data(), models.size()), '/');
  // <m> | <m>/versions/<v> then optionally ready | infer | stats
  size_t model_parts = 1;
  if (parts.size() >= 3 && parts[1] == "versions") model_parts = 3;
  if (!NonEmpty(parts, 0, model_parts) || (model_parts == 3 && parts[2].empty())) return false;
  if (parts.size() == model_parts) return true;  // model metadata
  if (parts.size() != model_parts + 1) return false;
  const std::string& verb = parts[model_parts];
  if (verb == "ready" || verb == "stats") return true;
  if (verb == "infer") {
    route.kind = CallKind::kInfer;
    route.methods = {bhttp::verb::post};
    return true;
  }
  return false;
}

DataPlaneRoute ParseRoute(std::string_view target) {
  DataPlaneRoute route;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    route.query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  std::string_view rest = target.substr(kPrefix.size());
  auto slash = rest.find('/');
  route.endpoint = std::string(rest.substr(0, slash));
  route.action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (route.action == "score") {
    route.known = true;
    route.methods = {bhttp::verb::post, bhttp::verb::get};
  } else if (route.action == "swagger.json") {
    route.known = true;
    route.kind = CallKind::kSwagger;
    route.target = HttpTarget::kSwaggerRoute;
    route.methods = {bhttp::verb::get};
  } else if (route.action == "v2" || route.action.starts_with("v2/")) {
    route.known = MatchOip(route.action, route);
    route.wire = Wire::kOip;
  }
  return route;
}

std::optional<std::string> Header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  if (it == req.end()) return std::nullopt;
  return std::string(it->value());
}

Response ErrorFor(const Request& req, Wire wire, const absl::Status& status) {
  Response res =
      wire == Wire::kOip ? http::OipErrorResponse(req, status) : http::ErrorResponse(req, status);
  if (absl::IsUnauthenticated(status)) res.set(bhttp::field::www_authenticate, "Bearer");
  return res;
}

Response ErrorFor(const Request& req, Wire wire, bhttp::status status, std::string_view code,
                  std::string_view message) {
  return wire == Wire::kOip ? http::OipErrorResponse(req, status, message)
                            : http::ErrorResponse(req, status, code, message);
}

// The request as the metrics and the access log see it. The request id is the server's.
RequestSummary Summarize(const Request& req, const Response& res, SteadyTime arrival,
                         uint64_t bytes_in) {
  RequestSummary summary;
  if (auto id = req.find("x-request-id"); id != req.end()) summary.request_id = id->value();
  summary.method = std::string(req.method_string());
  std::string_view target = req.target();
  summary.path = std::string(target.substr(0, target.find('?')));
  summary.status = res.result_int();
  summary.bytes_in = bytes_in;
  summary.bytes_out = res.body().size();
  summary.arrival = arrival;
  return summary;
}

// The route's method check, after the credential check (a 405 says nothing about names).
std::optional<Response> CheckRoute(const Request& req, const DataPlaneRoute& route) {
  if (!route.known) {
    return ErrorFor(
        req, route.wire,
        absl::NotFoundError("no such route '" + std::string(req.target()) +
                            "'; use /endpoints/<name>/score, /swagger.json or the Open Inference "
                            "Protocol's /v2 routes"));
  }
  for (bhttp::verb m : route.methods) {
    if (req.method() == m) return std::nullopt;
  }
  std::string allowed;
  for (bhttp::verb m : route.methods) {
    allowed += (allowed.empty() ? "" : ", ") + std::string(bhttp::to_string(m));
  }
  Response res = ErrorFor(req, route.wire, bhttp::status::method_not_allowed, "MethodNotAllowed",
                          "use " + allowed + " on " + std::string(route.action));
  res.set(bhttp::field::allow, allowed);
  return res;
}

// The one mapping from a routed outcome to HTTP.
Response ToResponse(const Request& req, Wire wire, const RouteResult& result, HttpCall& call,
                    CallKind kind) {
  switch (result.outcome) {
    case Outcome::kAnswered:
      break;
    case Outcome::kUnauthenticated:
      return ErrorFor(req, wire, absl::UnauthenticatedError(result.message));
    case Outcome::kForbidden:
      return ErrorFor(req, wire, absl::PermissionDeniedError(result.message));
    case Outcome::kNotFound:
      return ErrorFor(req, wire, absl::NotFoundError(result.message));
    case Outcome::kUnavailable:
      return ErrorFor(req, wire, absl::UnavailableError(result.message));
    case Outcome::kRejected: {
      Response res = ErrorFor(req, wire, absl::ResourceExhaustedError(result.message));
      res.set(bhttp::field::retry_after, "1");
      return res;
    }
    case Outcome::kTimedOut:
      return ErrorFor(req, wire, bhttp::status::request_timeout, "RequestTimeout", result.message);
    case Outcome::kUpstreamFailed:
    case Outcome::kResponseTooLarge:
    case Outcome::kCancelled:
      return ErrorFor(req, wire, bhttp::status::bad_gateway, "BadGateway", result.message);
  }
  Response& model = call.answer();
  const int model_status = model.result_int();
  if (kind == CallKind::kSwagger) {
    if (model_status != 200) {
      return ErrorFor(req, wire,
                      absl::NotFoundError("deployment '" + result.deployment +
                                          "' does not serve a swagger document"));
    }
    Response res{bhttp::status::ok, req.version()};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = std::move(model.body());
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
  }
  // /score follows Azure's rule (a model's non-2xx becomes 424); /v2 passes statuses through.
  const bool ok = wire == Wire::kOip || (model_status >= 200 && model_status < 300);
  Response res{ok ? model.result() : bhttp::status::failed_dependency, req.version()};
  for (const auto& field : model) {
    std::string name(field.name_string());
    if (absl::EqualsIgnoreCase(name, "connection") || absl::EqualsIgnoreCase(name, "keep-alive") ||
        absl::EqualsIgnoreCase(name, "transfer-encoding") ||
        absl::EqualsIgnoreCase(name, "content-length") || absl::EqualsIgnoreCase(name, "trailer") ||
        absl::EqualsIgnoreCase(name, "upgrade")) {
      continue;
    }
    res.insert(field.name_string(), field.value());
  }
  if (!ok) {
    res.set("ms-azureml-model-error-statuscode", std::to_string(model_status));
    std::string reason(model.reason());
    if (reason.empty()) reason = std::string(bhttp::obsolete_reason(model.result()));
    res.set("ms-azureml-model-error-reason", reason);
  }
  res.body() = std::move(model.body());
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

}  // namespace

DataPlane::DataPlane(Router& router, const Clock& clock, DataPlaneOptions options)
    : router_(router), clock_(clock), options_(options) {}

DataPlane::~DataPlane() {
  for (Thread& t : threads_) router_.RemoveClient(t.client.get());
}

void DataPlane::AddThread(asio::io_context& io) {
  threads_.push_back({&io, std::make_unique<HttpInstanceClient>(io.get_executor(), options_.client,
                                                                runner_load_)});
  router_.AddClient(threads_.back().client.get());
}

HttpInstanceClient& DataPlane::ClientFor(const asio::any_io_executor& executor) {
  const asio::execution_context* context = &asio::query(executor, asio::execution::context);
  for (Thread& t : threads_) {
    if (static_cast<const asio::execution_context*>(t.io) == context) return *t.client;
  }
  // A thread that was not registered: a programming error; use the first client's thread
  // rules would be violated, so fail loudly.
  throw std::logic_error("DataPlane::Handle on an io_context not registered with AddThread");
}

bool DataPlane::Matches(std::string_view target) { return target.starts_with(kPrefix); }

std::optional<Response> DataPlane::CheckHeaders(const Request& head,
                                                const http::RequestContext& context) const {
  DataPlaneRoute route = ParseRoute(head.target());
  absl::Status access =
      router_.CheckAccess(route.endpoint, Header(head, "authorization"), context.private_listener);
  std::optional<Response> refused =
      access.ok() ? CheckRoute(head, route) : ErrorFor(head, route.wire, access);
  if (refused) {
    // Counted without labels: the caller has not shown it may use any endpoint's name.
    if (options_.new_request_id) refused->set("x-request-id", options_.new_request_id());
    RequestSummary summary = Summarize(head, *refused, clock_.Now(), 0);
    auto id = refused->find("x-request-id");
    summary.request_id = id == refused->end() ? "" : std::string(id->value());
    router_.Record(RouteResult{}, summary);
  }
  return refused;
}

Awaitable<Response> DataPlane::Handle(Request& req) {
  // Not a coroutine: the context is a static rather than a temporary, because GCC 12 destroys a
  // coroutine's by-value parameter twice when it comes from a default argument.
  static const http::RequestContext kPublicListener;
  return Handle(req, kPublicListener);
}

Awaitable<Response> DataPlane::Handle(Request& req, const http::RequestContext& context) {
  const SteadyTime arrival = clock_.Now();
  DataPlaneRoute route = ParseRoute(req.target());
  RouteRequest request;
  request.endpoint = route.endpoint;
  request.authorization = Header(req, "authorization");
  request.deployment = Header(req, kDeploymentHeader);
  request.kind = route.kind;
  request.private_listener = context.private_listener;

  // Names, credentials, network access, routes and methods, in that order: nothing about an
  // endpoint is told to a caller without a valid credential for it.
  absl::Status access =
      router_.CheckAccess(route.endpoint, request.authorization, request.private_listener);
  std::optional<Response> early;
  if (!access.ok()) {
    early = ErrorFor(req, route.wire, access);
  } else {
    early = CheckRoute(req, route);
  }
  if (early) {
    RouteResult rejected;
    if (access.ok()) {
      auto snapshot = router_.Snapshot();
      if (const EndpointRouting* e = snapshot->FindEndpoint(route.endpoint)) {
        rejected.endpoint = e->name;
      }
    }
    router_.Record(rejected, Summarize(req, *early, arrival, req.body().size()));
    co_return std::move(*early);
  }

  const uint64_t bytes_in = req.body().size();
  std::string path = route.target == HttpTarget::kAsGiven ? "/" + std::string(route.action) : "";
  HttpCall call(req.base(), std::make_shared<const std::string>(std::move(req.body())),
                route.target, std::move(path), std::string(route.query));
  call.set_client({context.remote_address, context.remote_port});
  HttpInstanceClient& client = ClientFor(co_await asio::this_coro::executor);
  RouteResult result = co_await router_.Route(request, call, client);
  Response res = ToResponse(req, route.wire, result, call, route.kind);
  if (!result.deployment.empty()) res.set(kDeploymentHeader, result.deployment);
  router_.Record(result, Summarize(req, res, arrival, bytes_in));
  co_return res;
}

}  // namespace berth::gateway
