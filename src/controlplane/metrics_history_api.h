#pragma once
// GET /api/v1/online-endpoints/{e}/deployments/{d}/metrics?window_s=N: a deployment's recent
// request rate, latency quantiles and status counts per step, from gateway::MetricsHistory, for
// the studio's charts (docs/api.md, "Metrics history").

#include <map>
#include <string>

#include "controlplane/management_service.h"
#include "gateway/metrics_history.h"
#include "http/asio.h"

namespace berth::controlplane {

// 404 for an unknown endpoint or deployment (names in any case, as GET finds them), 400 naming
// `window_s` outside 10..3600 (default 300); else
// `{"step_s": 2, "window_s": N, "points": [{"time", "requests_per_s", "p50_ms", "p99_ms",
// "status_2xx", "status_4xx", "status_5xx", "status_429"}, ...]}`, oldest first.
http::Response ReplyMetricsHistory(ManagementService& service,
                                   const gateway::MetricsHistory& history, const http::Request& req,
                                   const std::string& endpoint, const std::string& deployment,
                                   const std::map<std::string, std::string>& query);

}  // namespace berth::controlplane
