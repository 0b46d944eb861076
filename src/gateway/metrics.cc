#include "gateway/metrics.h"

#include <charconv>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace berth::gateway {
namespace {

// Label values are names validated elsewhere, but escape anyway (the format's three escapes).
std::string Escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Shortest fixed-point text that reads back as the same double ("0.0005", "2.5", "180").
std::string Number(double value) {
  char buffer[400];  // the longest fixed-point double
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

template <typename Values>
struct Row {
  std::string endpoint;
  std::string deployment;
  Values values;
  std::string labels;  // endpoint="...",deployment="..."
};

void Family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Sample(std::string& out, std::string_view name, std::string_view labels,
            std::string_view value) {
  out.append(name).append("{").append(labels).append("} ").append(value).append("\n");
}

void RenderHistogram(std::string& out, std::string_view name, std::string_view labels,
                     const Metrics::Histogram& h) {
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < Metrics::kBuckets.size(); ++i) {
    cumulative += h.counts[i];
    Sample(out, bucket, std::string(labels) + ",le=\"" + Number(Metrics::kBuckets[i]) + "\"",
           std::to_string(cumulative));
  }
  Sample(out, bucket, std::string(labels) + ",le=\"+Inf\"", std::to_string(h.count));
  Sample(out, std::string(name) + "_sum", labels, Number(h.sum));
  Sample(out, std::string(name) + "_count", labels, std::to_string(h.count));
}

// Whether (endpoint, deployment) survives Retain(keep).
bool Kept(const std::set<std::pair<std::string, std::string>>& keep, const std::string& endpoint,
          const std::string& deployment) {
  if (keep.contains({endpoint, deployment})) return true;
  if (!deployment.empty()) return false;
  auto it = keep.lower_bound({endpoint, ""});
  return it != keep.end() && it->first == endpoint;
}

}  // namespace

void Metrics::Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  if (i < kBuckets.size()) counts[i]++;
  count++;
  sum += seconds;
}

Metrics::Metrics() = default;
Metrics::~Metrics() = default;

template <typename Values>
std::shared_ptr<Metrics::Series<Values>> Metrics::Find(absl::Mutex& mu, Table<Values>& table,
                                                       std::string_view endpoint,
                                                       std::string_view deployment) {
  {
    absl::ReaderMutexLock lock(&mu);
    auto e = table.find(endpoint);
    if (e != table.end()) {
      auto d = e->second.find(deployment);
      if (d != e->second.end()) return d->second;
    }
  }
  absl::MutexLock lock(&mu);
  auto e = table.find(endpoint);
  if (e == table.end())
    e = table.emplace(std::string(endpoint), typename Table<Values>::mapped_type()).first;
  auto d = e->second.find(deployment);
  if (d == e->second.end()) {
    d = e->second.emplace(std::string(deployment), std::make_shared<Series<Values>>()).first;
  }
  return d->second;
}

std::shared_ptr<Metrics::Series<Metrics::DeploymentValues>> Metrics::Online(
    std::string_view endpoint, std::string_view deployment) {
  return Find(online_mu_, online_, endpoint, deployment);
}

std::shared_ptr<Metrics::Series<Metrics::BatchValues>> Metrics::Batch(std::string_view endpoint,
                                                                      std::string_view deployment) {
  return Find(batch_mu_, batch_, endpoint, deployment);
}

void Metrics::RecordRequest(const RequestSample& sample) {
  auto series = Online(sample.endpoint, sample.deployment);
  absl::MutexLock lock(&series->mu);
  DeploymentValues& v = series->values;
  v.data_plane = true;
  v.requests[sample.status]++;
  v.duration.Observe(sample.seconds);
  if (sample.queue_seconds) v.queue.Observe(*sample.queue_seconds);
  if (sample.model_seconds) v.model.Observe(*sample.model_seconds);
  if (sample.status == 429) v.throttled++;
  if (sample.status == 408) v.timed_out++;
  if (sample.status == 424) v.model_errors++;
  if (sample.attempts > 1) v.retried++;
}

void Metrics::RecordRequest(std::string_view endpoint, std::string_view deployment, int status,
                            double seconds) {
  RequestSample sample;
  sample.endpoint = endpoint;
  sample.deployment = deployment;
  sample.status = status;
  sample.seconds = seconds;
  RecordRequest(sample);
}

void Metrics::AddInFlight(std::string_view endpoint, std::string_view deployment, int delta) {
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  series->values.data_plane = true;
  series->values.in_flight += delta;
}

void Metrics::AddQueued(std::string_view endpoint, std::string_view deployment, int delta) {
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  series->values.data_plane = true;
  series->values.queued += delta;
}

void Metrics::SetQueued(std::string_view endpoint, std::string_view deployment, int64_t queued) {
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  series->values.data_plane = true;
  series->values.queued = queued;
}

void Metrics::RecordMirror(std::string_view endpoint, std::string_view deployment,
                           std::string_view result) {
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  auto& mirror = series->values.mirror;
  auto it = mirror.find(result);
  if (it == mirror.end()) it = mirror.emplace(std::string(result), 0).first;
  it->second++;
}

void Metrics::SetInstances(std::string_view endpoint, std::string_view deployment, int desired,
                           int ready) {
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  series->values.instances = std::make_pair(desired, ready);
}

void Metrics::RecordScaleDecision(std::string_view endpoint, std::string_view deployment, int from,
                                  int to) {
  if (from == to) return;
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  (to > from ? series->values.scaled_up : series->values.scaled_down)++;
}

void Metrics::SetInstanceUsage(std::string_view endpoint, std::string_view deployment,
                               int64_t instance_id, double cpu_seconds, uint64_t rss_bytes) {
  auto series = Online(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  series->values.usage[instance_id] = {.cpu_seconds = cpu_seconds, .rss_bytes = rss_bytes};
}

void Metrics::RecordBatchJobEnded(std::string_view endpoint, std::string_view deployment,
                                  std::string_view status) {
  auto series = Batch(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  auto& ended = series->values.jobs_ended;
  auto it = ended.find(status);
  if (it == ended.end()) it = ended.emplace(std::string(status), 0).first;
  it->second++;
}

void Metrics::AddBatchJobsRunning(std::string_view endpoint, std::string_view deployment,
                                  int delta) {
  auto series = Batch(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  series->values.jobs_running += delta;
}

void Metrics::RecordMiniBatch(std::string_view endpoint, std::string_view deployment,
                              bool succeeded) {
  auto series = Batch(endpoint, deployment);
  absl::MutexLock lock(&series->mu);
  (succeeded ? series->values.mini_batches_succeeded : series->values.mini_batches_failed)++;
}

void Metrics::Retain(const std::set<std::pair<std::string, std::string>>& deployments) {
  absl::MutexLock lock(&online_mu_);
  for (auto e = online_.begin(); e != online_.end();) {
    if (!e->first.empty()) {
      for (auto d = e->second.begin(); d != e->second.end();) {
        d = Kept(deployments, e->first, d->first) ? std::next(d) : e->second.erase(d);
      }
    }
    e = e->second.empty() ? online_.erase(e) : std::next(e);
  }
}

void Metrics::RetainInstances(std::string_view endpoint, std::string_view deployment,
                              const std::set<int64_t>& instance_ids) {
  std::shared_ptr<Series<DeploymentValues>> series;
  {
    absl::ReaderMutexLock lock(&online_mu_);
    auto e = online_.find(endpoint);
    if (e == online_.end()) return;
    auto d = e->second.find(deployment);
    if (d == e->second.end()) return;
    series = d->second;
  }
  absl::MutexLock lock(&series->mu);
  std::erase_if(series->values.usage,
                [&](const auto& entry) { return !instance_ids.contains(entry.first); });
}

void Metrics::RetainBatch(const std::set<std::pair<std::string, std::string>>& deployments) {
  absl::MutexLock lock(&batch_mu_);
  for (auto e = batch_.begin(); e != batch_.end();) {
    for (auto d = e->second.begin(); d != e->second.end();) {
      d = deployments.contains({e->first, d->first}) ? std::next(d) : e->second.erase(d);
    }
    e = e->second.empty() ? batch_.erase(e) : std::next(e);
  }
}

namespace {

// Each series copied under its own mutex, after the table's shared lock is released.
template <typename Values, typename Table>
std::vector<Row<Values>> Copy(absl::Mutex& mu, const Table& table) {
  using SeriesRef = typename Table::mapped_type::mapped_type;  // shared_ptr<Series<Values>>
  std::vector<std::tuple<std::string, std::string, SeriesRef>> refs;
  {
    absl::ReaderMutexLock lock(&mu);
    for (const auto& [endpoint, deployments] : table) {
      for (const auto& [deployment, series] : deployments) {
        refs.emplace_back(endpoint, deployment, series);
      }
    }
  }
  std::vector<Row<Values>> rows;
  rows.reserve(refs.size());
  for (auto& [endpoint, deployment, series] : refs) {
    Row<Values> row;
    row.endpoint = endpoint;
    row.deployment = deployment;
    {
      absl::MutexLock lock(&series->mu);
      row.values = series->values;
    }
    row.labels = "endpoint=\"" + Escape(endpoint) + "\",deployment=\"" + Escape(deployment) + "\"";
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

std::vector<Metrics::OnlineSeries> Metrics::OnlineValues() const {
  std::vector<OnlineSeries> out;
  for (auto& row : Copy<DeploymentValues>(online_mu_, online_)) {
    out.push_back({std::move(row.endpoint), std::move(row.deployment), std::move(row.values)});
  }
  return out;
}

std::string Metrics::RenderPrometheus() const {
  const auto online = Copy<DeploymentValues>(online_mu_, online_);
  const auto batch = Copy<BatchValues>(batch_mu_, batch_);
  std::string out;

  // A series that routed requests has its zero-valued request families too, so that rate()
  // and absence checks work from its first request.
  auto routed = [](const Row<DeploymentValues>& row) {
    return row.values.data_plane && !row.deployment.empty();
  };
  auto counter = [&](std::string_view name, std::string_view help,
                     uint64_t DeploymentValues::*field) {
    Family(out, name, "counter", help);
    for (const auto& row : online) {
      uint64_t n = row.values.*field;
      if (n > 0 || routed(row)) Sample(out, name, row.labels, std::to_string(n));
    }
  };
  auto histogram = [&](std::string_view name, std::string_view help,
                       Histogram DeploymentValues::*field) {
    Family(out, name, "histogram", help);
    for (const auto& row : online) {
      const Histogram& h = row.values.*field;
      if (h.count > 0 || routed(row)) RenderHistogram(out, name, row.labels, h);
    }
  };
  auto gauge = [&](std::string_view name, std::string_view help, int64_t DeploymentValues::*field) {
    Family(out, name, "gauge", help);
    for (const auto& row : online) {
      int64_t n = row.values.*field;
      if (n != 0 || routed(row)) Sample(out, name, row.labels, std::to_string(n));
    }
  };

  Family(out, "berth_requests_total", "counter",
         "Data-plane requests by endpoint, deployment and status code.");
  for (const auto& row : online) {
    for (const auto& [code, n] : row.values.requests) {
      Sample(out, "berth_requests_total", row.labels + ",code=\"" + std::to_string(code) + "\"",
             std::to_string(n));
    }
  }
  histogram("berth_request_duration_seconds", "Data-plane request latency, arrival to answer.",
            &DeploymentValues::duration);
  histogram("berth_request_queue_seconds",
            "Time a request waited in the gateway (admission, a starting instance) before it "
            "was sent or rejected.",
            &DeploymentValues::queue);
  histogram("berth_request_model_seconds",
            "Time a request spent with instances, send to answer, every try.",
            &DeploymentValues::model);
  gauge("berth_requests_in_flight", "Requests admitted and not yet answered.",
        &DeploymentValues::in_flight);
  gauge("berth_requests_queued", "Requests waiting in the gateway for an instance.",
        &DeploymentValues::queued);
  counter("berth_throttled_requests_total", "Requests refused with 429 (too many requests).",
          &DeploymentValues::throttled);
  counter("berth_timed_out_requests_total",
          "Requests answered 408 (no answer within request_timeout_ms).",
          &DeploymentValues::timed_out);
  counter("berth_model_errors_total", "Requests answered 424 (the model failed).",
          &DeploymentValues::model_errors);
  counter("berth_retried_requests_total",
          "Requests sent again to another instance after an instance failed.",
          &DeploymentValues::retried);

  Family(out, "berth_mirror_requests_total", "counter",
         "Mirrored copies by result (sent, failed, dropped, expired).");
  for (const auto& row : online) {
    for (const auto& [result, n] : row.values.mirror) {
      Sample(out, "berth_mirror_requests_total", row.labels + ",result=\"" + Escape(result) + "\"",
             std::to_string(n));
    }
  }

  Family(out, "berth_deployment_desired_instances", "gauge",
         "Instances the deployment should have now.");
  for (const auto& row : online) {
    if (row.values.instances) {
      Sample(out, "berth_deployment_desired_instances", row.labels,
             std::to_string(row.values.instances->first));
    }
  }
  Family(out, "berth_deployment_ready_instances", "gauge",
         "Instances of the deployment ready to serve.");
  for (const auto& row : online) {
    if (row.values.instances) {
      Sample(out, "berth_deployment_ready_instances", row.labels,
             std::to_string(row.values.instances->second));
    }
  }
  Family(out, "berth_deployment_scaled_to_zero", "gauge",
         "1 when the deployment has no instance and should have none, else 0.");
  for (const auto& row : online) {
    if (row.values.instances) {
      bool zero = row.values.instances->first == 0 && row.values.instances->second == 0;
      Sample(out, "berth_deployment_scaled_to_zero", row.labels, zero ? "1" : "0");
    }
  }
  Family(out, "berth_autoscaler_decisions_total", "counter",
         "Autoscaler decisions by direction (up, down).");
  for (const auto& row : online) {
    if (row.values.scaled_up + row.values.scaled_down == 0 && !row.values.instances) continue;
    Sample(out, "berth_autoscaler_decisions_total", row.labels + ",direction=\"down\"",
           std::to_string(row.values.scaled_down));
    Sample(out, "berth_autoscaler_decisions_total", row.labels + ",direction=\"up\"",
           std::to_string(row.values.scaled_up));
  }

  Family(out, "berth_instance_cpu_seconds_total", "counter",
         "CPU time an instance used (user and system, all its processes).");
  for (const auto& row : online) {
    for (const auto& [id, usage] : row.values.usage) {
      Sample(out, "berth_instance_cpu_seconds_total",
             row.labels + ",instance=\"" + std::to_string(id) + "\"", Number(usage.cpu_seconds));
    }
  }
  Family(out, "berth_instance_resident_memory_bytes", "gauge",
         "Memory an instance uses now (its cgroup's, else the resident set of its processes).");
  for (const auto& row : online) {
    for (const auto& [id, usage] : row.values.usage) {
      Sample(out, "berth_instance_resident_memory_bytes",
             row.labels + ",instance=\"" + std::to_string(id) + "\"",
             std::to_string(usage.rss_bytes));
    }
  }

  Family(out, "berth_batch_jobs_total", "counter", "Batch jobs that ended, by final status.");
  for (const auto& row : batch) {
    for (const auto& [status, n] : row.values.jobs_ended) {
      Sample(out, "berth_batch_jobs_total", row.labels + ",status=\"" + Escape(status) + "\"",
             std::to_string(n));
    }
  }
  Family(out, "berth_batch_jobs_running", "gauge", "Batch jobs running now.");
  for (const auto& row : batch) {
    Sample(out, "berth_batch_jobs_running", row.labels, std::to_string(row.values.jobs_running));
  }
  Family(out, "berth_batch_mini_batches_total", "counter",
         "Batch mini-batches processed, by result (succeeded, failed).");
  for (const auto& row : batch) {
    if (row.values.mini_batches_succeeded + row.values.mini_batches_failed == 0) continue;
    Sample(out, "berth_batch_mini_batches_total", row.labels + ",result=\"failed\"",
           std::to_string(row.values.mini_batches_failed));
    Sample(out, "berth_batch_mini_batches_total", row.labels + ",result=\"succeeded\"",
           std::to_string(row.values.mini_batches_succeeded));
  }
  return out;
}

}  // namespace berth::gateway
