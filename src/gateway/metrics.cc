#include "gateway/metrics.h"

#include <sstream>

namespace berth::gateway {
namespace {

// Label values are names validated elsewhere, but escape anyway.
std::string Escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Labels(const std::string& endpoint, const std::string& deployment) {
  return "endpoint=\"" + Escape(endpoint) + "\",deployment=\"" + Escape(deployment) + "\"";
}

}  // namespace

void Metrics::RecordRequest(const std::string& endpoint, const std::string& deployment, int status,
                            double seconds) {
  absl::MutexLock lock(&mu_);
  requests_[{endpoint, deployment, status}]++;
  Histogram& h = latency_[{endpoint, deployment}];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) h.counts[i]++;
  }
  h.count++;
  h.sum += seconds;
}

void Metrics::AddInFlight(const std::string& endpoint, const std::string& deployment, int delta) {
  absl::MutexLock lock(&mu_);
  in_flight_[{endpoint, deployment}] += delta;
}

void Metrics::RecordMirror(const std::string& endpoint, const std::string& deployment,
                           const std::string& result) {
  absl::MutexLock lock(&mu_);
  mirror_[{endpoint, deployment, result}]++;
}

std::string Metrics::RenderPrometheus() const {
  absl::MutexLock lock(&mu_);
  std::ostringstream out;
  out << "# HELP berth_requests_total Data-plane requests by endpoint, deployment and status.\n"
      << "# TYPE berth_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [endpoint, deployment, code] = key;
    out << "berth_requests_total{" << Labels(endpoint, deployment) << ",code=\"" << code << "\"} "
        << n << "\n";
  }
  out << "# HELP berth_request_duration_seconds Data-plane request latency.\n"
      << "# TYPE berth_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_) {
    std::string labels = Labels(key.first, key.second);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out << "berth_request_duration_seconds_bucket{" << labels << ",le=\"" << kBuckets[i] << "\"} "
          << h.counts[i] << "\n";
    }
    out << "berth_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << h.count
        << "\n";
    out << "berth_request_duration_seconds_sum{" << labels << "} " << h.sum << "\n";
    out << "berth_request_duration_seconds_count{" << labels << "} " << h.count << "\n";
  }
  out << "# HELP berth_requests_in_flight Requests admitted and not yet answered.\n"
      << "# TYPE berth_requests_in_flight gauge\n";
  for (const auto& [key, n] : in_flight_) {
    out << "berth_requests_in_flight{" << Labels(key.first, key.second) << "} " << n << "\n";
  }
  out << "# HELP berth_mirror_requests_total Mirrored copies by result (sent, failed, dropped).\n"
      << "# TYPE berth_mirror_requests_total counter\n";
  for (const auto& [key, n] : mirror_) {
    const auto& [endpoint, deployment, result] = key;
    out << "berth_mirror_requests_total{" << Labels(endpoint, deployment) << ",result=\""
        << Escape(result) << "\"} " << n << "\n";
  }
  return out.str();
}

}  // namespace berth::gateway
