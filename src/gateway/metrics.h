#pragma once
// Metrics: berthd's Prometheus series (text exposition format 0.0.4), per endpoint and
// deployment: data-plane requests, latency split into gateway queue time and model time,
// in-flight and queued gauges, mirror counts, instance counts and usage, autoscaler decisions
// and batch jobs. Label values come only from existing resources (the callers' business:
// unauthenticated requests are counted with endpoint and deployment ""), and Retain() drops
// the series of deleted ones, so the number of series stays bounded.
//
// Threading: every method may be called from any thread. The hot path (RecordRequest,
// AddInFlight, AddQueued) takes a shared lock on the series table and the one series' own
// mutex, for a few increments; only the first sample of a new endpoint/deployment, Retain and
// rendering take the table's exclusive lock. RenderPrometheus copies each series under its
// own mutex and formats outside every lock.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace berth::gateway {

// One finished data-plane request.
struct RequestSample {
  std::string_view endpoint;    // "" when the caller did not prove it may use an endpoint
  std::string_view deployment;  // "" before a deployment was chosen
  int status = 0;               // what the client got (HTTP, or gRPC's HTTP equivalent)
  double seconds = 0;           // arrival to answer
  // Arrival to the (last) send to an instance, or to the rejection: nullopt when the request
  // never reached admission (no deployment was chosen).
  std::optional<double> queue_seconds;
  // Time with instances; nullopt when no instance was sent to.
  std::optional<double> model_seconds;
  int attempts = 0;  // sends to an instance; > 1 counts as retried
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // ---- data plane (hot path)

  // Counts the request by status code, observes its latencies, and counts 429 (throttled),
  // 408 (timed out) and 424 (model error) answers and retried requests.
  void RecordRequest(const RequestSample& sample);
  // Shorthand for a request that reached no instance.
  void RecordRequest(std::string_view endpoint, std::string_view deployment, int status,
                     double seconds);
  // Requests admitted and not yet answered.
  void AddInFlight(std::string_view endpoint, std::string_view deployment, int delta);
  // Requests waiting in the gateway (admission queue, or a deployment starting from zero).
  void AddQueued(std::string_view endpoint, std::string_view deployment, int delta);
  void SetQueued(std::string_view endpoint, std::string_view deployment, int64_t queued);
  // `result` is "sent" (the mirror deployment answered), "failed", "dropped" (queue full) or
  // "expired" (waited too long).
  void RecordMirror(std::string_view endpoint, std::string_view deployment,
                    std::string_view result);

  // ---- control plane

  // Instances the deployment should have and those ready now. A deployment with neither is
  // reported as scaled to zero.
  void SetInstances(std::string_view endpoint, std::string_view deployment, int desired, int ready);
  // One autoscaler decision from `from` to `to` instances: "up" when to > from, "down" when
  // to < from; an unchanged count is not a decision and is ignored.
  void RecordScaleDecision(std::string_view endpoint, std::string_view deployment, int from,
                           int to);
  // An instance's CPU time since it started and its resident memory now (from
  // ComputeDriver::Usage).
  void SetInstanceUsage(std::string_view endpoint, std::string_view deployment, int64_t instance_id,
                        double cpu_seconds, uint64_t rss_bytes);

  // ---- batch

  // A batch job ended with `status` (its final status: "Completed", "Failed", "Canceled").
  void RecordBatchJobEnded(std::string_view endpoint, std::string_view deployment,
                           std::string_view status);
  void AddBatchJobsRunning(std::string_view endpoint, std::string_view deployment, int delta);
  void RecordMiniBatch(std::string_view endpoint, std::string_view deployment, bool succeeded);

  // ---- bounded label values

  // Keeps only the online series of these (endpoint, deployment) pairs, plus those with
  // deployment "" of an endpoint named in the set, plus endpoint "" (unauthenticated
  // requests). Batch series are not affected (RetainBatch).
  void Retain(const std::set<std::pair<std::string, std::string>>& deployments);
  // Keeps only these instances' usage series of one deployment.
  void RetainInstances(std::string_view endpoint, std::string_view deployment,
                       const std::set<int64_t>& instance_ids);
  // Keeps only the batch series of these (batch endpoint, batch deployment) pairs.
  void RetainBatch(const std::set<std::pair<std::string, std::string>>& deployments);

  // Every family, with HELP and TYPE lines even when it has no series yet.
  std::string RenderPrometheus() const;
  // The Content-Type of RenderPrometheus()'s text.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  // Upper bounds of the latency histograms' buckets, in seconds (+Inf is implied).
  static constexpr std::array<double, 17> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180};

  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
    void Observe(double seconds);
  };
  struct InstanceUsage {
    double cpu_seconds = 0;
    uint64_t rss_bytes = 0;
  };
  // What one online deployment's series hold.
  struct DeploymentValues {
    bool data_plane = false;           // a request, in-flight or queued sample was recorded
    std::map<int, uint64_t> requests;  // by status code
    Histogram duration, queue, model;
    int64_t in_flight = 0;
    int64_t queued = 0;
    uint64_t throttled = 0, timed_out = 0, model_errors = 0, retried = 0;
    std::map<std::string, uint64_t, std::less<>> mirror;  // by result
    std::optional<std::pair<int, int>> instances;         // desired, ready; nullopt until set
    uint64_t scaled_up = 0, scaled_down = 0;
    std::map<int64_t, InstanceUsage> usage;  // by instance id
  };
  struct BatchValues {
    std::map<std::string, uint64_t, std::less<>> jobs_ended;  // by final status
    int64_t jobs_running = 0;
    uint64_t mini_batches_succeeded = 0, mini_batches_failed = 0;
  };

  // One online series' values, copied.
  struct OnlineSeries {
    std::string endpoint;
    std::string deployment;
    DeploymentValues values;
  };
  // Every online series (endpoint "" and deployment "" included), each copied under its own
  // mutex, sorted by endpoint then deployment.
  std::vector<OnlineSeries> OnlineValues() const;

 private:
  template <typename Values>
  struct Series {
    absl::Mutex mu;
    Values values ABSL_GUARDED_BY(mu);
  };
  template <typename Values>
  using Table =
      std::map<std::string, std::map<std::string, std::shared_ptr<Series<Values>>, std::less<>>,
               std::less<>>;

  // The series of one deployment, created on first use.
  template <typename Values>
  static std::shared_ptr<Series<Values>> Find(absl::Mutex& mu, Table<Values>& table,
                                              std::string_view endpoint,
                                              std::string_view deployment);
  std::shared_ptr<Series<DeploymentValues>> Online(std::string_view endpoint,
                                                   std::string_view deployment);
  std::shared_ptr<Series<BatchValues>> Batch(std::string_view endpoint,
                                             std::string_view deployment);

  mutable absl::Mutex online_mu_;
  Table<DeploymentValues> online_ ABSL_GUARDED_BY(online_mu_);
  mutable absl::Mutex batch_mu_;
  Table<BatchValues> batch_ ABSL_GUARDED_BY(batch_mu_);
};

}  // namespace berth::gateway
