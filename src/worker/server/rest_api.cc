#include "worker/server/rest_api.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "http/errors.h"
#include "http/server.h"
#include "nlohmann/json.hpp"
#include "worker/codec/infer_json.h"

namespace berth::worker {

namespace asio = http::asio;
namespace bhttp = http::bhttp;
using http::Awaitable;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kHeaderLength = "Inference-Header-Content-Length";

Response Json(const Request& req, bhttp::status status, std::string body) {
  return http::MakeResponse(req, status, std::move(body), "application/json");
}

Response Empty(const Request& req, bhttp::status status) {
  Response res{status, req.version()};
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response MethodNotAllowed(const Request& req, std::string_view want) {
  return http::OipErrorResponse(req, bhttp::status::method_not_allowed,
                                "use " + std::string(want) + " on " + std::string(req.target()));
}

}  // namespace

Awaitable<absl::StatusOr<InferResponse>> InferAsync(InferenceService& service, std::string model,
                                                    std::string version, InferRequest request) {
  // The call's state travels behind a shared_ptr: GCC 12 moves an initiation's captures between
  // coroutine frames bitwise, which breaks strings that keep their bytes inline.
  struct Call {
    std::string model;
    std::string version;
    InferRequest request;
  };
  auto call =
      std::make_shared<Call>(Call{std::move(model), std::move(version), std::move(request)});
  return asio::async_initiate<decltype(asio::use_awaitable), void(absl::StatusOr<InferResponse>)>(
      [&service, call](auto handler) {
        auto executor = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        service.Infer(call->model, call->version, std::move(call->request),
                      [shared, executor](absl::StatusOr<InferResponse> result) {
                        asio::post(executor, [shared, result = std::move(result)]() mutable {
                          (*shared)(std::move(result));
                        });
                      });
      },
      asio::use_awaitable);
}

RestApi::RestApi(ModelHost& host, std::optional<MlflowInputSpec> mlflow)
    : host_(host), mlflow_(std::move(mlflow)) {}

Awaitable<Response> RestApi::Handle(Request& req) {
  std::string_view target = req.target();
  if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  const bool get = req.method() == bhttp::verb::get;
  const bool post = req.method() == bhttp::verb::post;

  if (target == "/") {
    co_return host_.Ready() ? Json(req, bhttp::status::ok, R"({"status":"ready"})")
                            : http::OipErrorResponse(req, bhttp::status::service_unavailable,
                                                     "models are still loading");
  }
  if (target == "/score") {
    if (!post) co_return MethodNotAllowed(req, "POST");
    if (mlflow_) co_return co_await ScoreMlflow(req);
    auto model = host_.DefaultModel();
    if (!model.ok()) co_return http::OipErrorResponse(req, model.status());
    co_return co_await Infer(req, *model, "");
  }
  if (target == "/v2" || target == "/v2/") {
    if (!get) co_return MethodNotAllowed(req, "GET");
    co_return Json(req, bhttp::status::ok, ServerMetadataJson(host_.Metadata()));
  }
  if (target == "/v2/health/live") {
    co_return Empty(req, host_.Live() ? bhttp::status::ok : bhttp::status::service_unavailable);
  }
  if (target == "/v2/health/ready") {
    co_return Empty(req, host_.Ready() ? bhttp::status::ok : bhttp::status::service_unavailable);
  }
  if (target == "/v2/models/stats") {
    if (!get) co_return MethodNotAllowed(req, "GET");
    co_return StatsResponse(req, "", "");
  }
  if (!target.starts_with("/v2/models/")) {
    co_return http::OipErrorResponse(
        req, bhttp::status::not_found,
        "no route " + std::string(target) + "; see the Open Inference Protocol's /v2 routes");
  }
  // /v2/models/<m>[/versions/<v>][/ready|/infer|/stats]
  std::vector<std::string> parts =
      absl::StrSplit(std::string(target.substr(std::string_view("/v2/models/").size())), '/');
  std::string model = parts[0];
  std::string version;
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    version = parts[2];
    next = 3;
  }
  std::string action = next < parts.size() ? parts[next] : "";
  if (model.empty() || next + (action.empty() ? 0 : 1) != parts.size() ||
      (next == 1 && parts.size() == 2 && parts[1] == "versions")) {
    co_return http::OipErrorResponse(req, bhttp::status::not_found,
                                     "no route " + std::string(target));
  }
  if (action.empty()) {
    if (!get) co_return MethodNotAllowed(req, "GET");
    auto meta = host_.GetModelMetadata(model, version);
    if (!meta.ok()) co_return http::OipErrorResponse(req, meta.status());
    co_return Json(req, bhttp::status::ok, ModelMetadataJson(*meta));
  }
  if (action == "ready") {
    if (!get) co_return MethodNotAllowed(req, "GET");
    auto ready = host_.ModelReady(model, version);
    if (!ready.ok()) co_return http::OipErrorResponse(req, ready.status());
    co_return Json(req, *ready ? bhttp::status::ok : bhttp::status::service_unavailable,
                   nlohmann::json{{"name", model}, {"ready", *ready}}.dump());
  }
  if (action == "infer") {
    if (!post) co_return MethodNotAllowed(req, "POST");
    co_return co_await Infer(req, model, version);
  }
  if (action == "stats") {
    if (!get) co_return MethodNotAllowed(req, "GET");
    co_return StatsResponse(req, model, version);
  }
  co_return http::OipErrorResponse(req, bhttp::status::not_found,
                                   "no route " + std::string(target));
}

Awaitable<Response> RestApi::Infer(Request& req, std::string model, std::string version) {
  std::optional<size_t> json_length;
  if (auto it = req.find(kHeaderLength); it != req.end()) {
    size_t n;
    if (!absl::SimpleAtoi(std::string(it->value()), &n)) {
      co_return http::OipErrorResponse(req, bhttp::status::bad_request,
                                       std::string(kHeaderLength) + " must be a byte count, got '" +
                                           std::string(it->value()) + "'");
    }
    json_length = n;
  }
  auto decoded = DecodeInferRequest(req.body(), json_length);
  if (!decoded.ok()) co_return http::OipErrorResponse(req, decoded.status());
  DecodedInfer asked = *std::move(decoded);
  InferRequest request = std::move(asked.request);
  asked.request = InferRequest{};
  auto result =
      co_await InferAsync(host_, std::move(model), std::move(version), std::move(request));
  if (!result.ok()) co_return http::OipErrorResponse(req, result.status());
  EncodedBody encoded = EncodeInferResponse(*result, asked);
  Response res =
      http::MakeResponse(req, bhttp::status::ok, std::move(encoded.body), encoded.content_type);
  if (encoded.json_length) res.set(kHeaderLength, std::to_string(*encoded.json_length));
  co_return res;
}

Awaitable<Response> RestApi::ScoreMlflow(Request& req) {
  auto message = [&](bhttp::status status, const std::string& text) {
    return Json(req, status,
                nlohmann::json{{"message", text}}.dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace));
  };
  auto model = host_.DefaultModel();
  if (!model.ok())
    co_return message(bhttp::status::service_unavailable, std::string(model.status().message()));
  if (auto type = req.find(bhttp::field::content_type);
      type != req.end() && !type->value().empty() &&
      std::string(type->value()).find("json") == std::string::npos) {
    co_return message(bhttp::status::unsupported_media_type,
                      "send the input as application/json; got " + std::string(type->value()));
  }
  auto input = DecodeMlflowInput(req.body(), *mlflow_);
  if (!input.ok())
    co_return message(bhttp::status::bad_request, std::string(input.status().message()));
  InferRequest request;
  request.inputs.push_back(*std::move(input));
  auto result = co_await InferAsync(host_, *model, "", std::move(request));
  if (!result.ok()) {
    co_return message(http::OipHttpStatusFor(result.status().code()),
                      std::string(result.status().message()));
  }
  if (result->outputs.empty()) {
    co_return message(bhttp::status::internal_server_error, "the model returned no output");
  }
  co_return Json(req, bhttp::status::ok, EncodeMlflowPredictions(result->outputs.front()));
}

Response RestApi::StatsResponse(const Request& req, std::string_view model,
                                std::string_view version) const {
  if (!model.empty()) {
    auto ready = host_.ModelReady(model, version);
    if (!ready.ok()) return http::OipErrorResponse(req, ready.status());
  }
  nlohmann::json list = nlohmann::json::array();
  for (const VersionStats& s : host_.Stats()) {
    if (!model.empty() && s.model != model) continue;
    if (!version.empty() && s.version != version) continue;
    const BatcherStats& b = s.batcher;
    auto duration = [](uint64_t count, uint64_t ns) {
      return nlohmann::json{{"count", count}, {"ns", ns}};
    };
    list.push_back({{"name", s.model},
                    {"version", s.version},
                    {"inference_count", b.inference_count},
                    {"execution_count", b.execution_count},
                    {"inference_stats",
                     {{"success", duration(b.success, b.compute_ns)},
                      {"fail", duration(b.failure, 0)},
                      {"queue", duration(b.success + b.failure, b.queue_ns)},
                      {"compute_infer", duration(b.execution_count, b.compute_ns)}}}});
  }
  return Json(req, bhttp::status::ok, nlohmann::json{{"model_stats", list}}.dump());
}

}  // namespace berth::worker
