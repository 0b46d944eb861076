#include "controlplane/metrics_history_api.h"

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "controlplane/api_replies.h"
#include "http/errors.h"

namespace berth::controlplane {

using nlohmann::json;

namespace {

constexpr int kMinWindowSeconds = 10;
constexpr int kMaxWindowSeconds = 3600;
constexpr int kDefaultWindowSeconds = 300;

json PointJson(const gateway::MetricsHistory::Point& p) {
  auto ms = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  return {{"time",
           absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(p.time), absl::UTCTimeZone())},
          {"requests_per_s", p.requests_per_s},
          {"p50_ms", ms(p.p50_ms)},
          {"p99_ms", ms(p.p99_ms)},
          {"status_2xx", p.status_2xx},
          {"status_4xx", p.status_4xx},
          {"status_5xx", p.status_5xx},
          {"status_429", p.status_429}};
}

}  // namespace

http::Response ReplyMetricsHistory(ManagementService& service,
                                   const gateway::MetricsHistory& history, const http::Request& req,
                                   const std::string& endpoint, const std::string& deployment,
                                   const std::map<std::string, std::string>& query) {
  if (req.method() != http::bhttp::verb::get) return MethodNotAllowed(req);
  int window_s = kDefaultWindowSeconds;
  if (auto it = query.find("window_s"); it != query.end()) {
    if (!absl::SimpleAtoi(it->second, &window_s) || window_s < kMinWindowSeconds ||
        window_s > kMaxWindowSeconds) {
      return http::ErrorResponse(
          req,
          InvalidField("window_s", "must be an integer from " + std::to_string(kMinWindowSeconds) +
                                       " to " + std::to_string(kMaxWindowSeconds) + " (seconds)"));
    }
  }
  absl::StatusOr<json> view = service.GetDeployment(endpoint, deployment);
  if (!view.ok()) return http::ErrorResponse(req, view.status());
  // The series are labelled with the stored names, whatever case the path used.
  const std::string endpoint_name = view->value("endpoint_name", endpoint);
  const std::string deployment_name = view->value("name", deployment);
  json points = json::array();
  for (const auto& p :
       history.Window(endpoint_name, deployment_name, std::chrono::seconds(window_s))) {
    points.push_back(PointJson(p));
  }
  return JsonResponse(
      req, http::bhttp::status::ok,
      {{"step_s",
        std::chrono::duration_cast<std::chrono::seconds>(gateway::MetricsHistory::kStep).count()},
       {"window_s", window_s},
       {"points", std::move(points)}});
}

}  // namespace berth::controlplane
