#pragma once
// DataPlane: serves /endpoints/<endpoint>/score, /swagger.json and the Open Inference
// Protocol's /endpoints/<endpoint>/v2/... — authentication, routing by traffic or by the
// azureml-model-deployment header, mirroring, admission, forwarding to an instance, and the
// status rules: Azure's on /score (401/404/408/424/429/502/503), OIP's on /v2 (model statuses
// pass through; the gateway's own errors are {"error": "..."}). Infer calls follow the traffic
// split; other /v2 calls and swagger go to the deployment with the largest share.
//
// Threading: Handle() runs on the gateway's io_context; Publish() and InFlight() may be called
// from any thread.
//
// As a RoutingSink it owns the runtime objects built from the control plane's plain snapshots
// (a bridge until the Router replaces this class): a connection pool per instance incarnation
// (created on `pool_executor`), an admission gate and a mirror queue per deployment, and an
// in-flight counter per instance. Each Publish() reuses those of what stayed, creates those of
// what arrived, drops those of what left, and converts the snapshot into the RoutingTable that
// Handle() and the gRPC gateway read.

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/random.h"
#include "gateway/metrics.h"
#include "gateway/route_snapshot.h"
#include "gateway/routing.h"
#include "http/asio.h"

namespace berth::gateway {

// Which error shape a data-plane route speaks: berth's (/score, /swagger.json) or the Open
// Inference Protocol's (/v2/...).
enum class Wire { kBerth, kOip };

struct DataPlaneOptions {
  size_t mirror_queue_capacity = 1024;  // copies waiting per mirror deployment; more are dropped
};

class DataPlane final : public RoutingSink {
 public:
  DataPlane(const Clock& clock, RandomSource& random, Metrics& metrics,
            http::asio::any_io_executor pool_executor, DataPlaneOptions options = {});

  // RoutingSink.
  void Publish(std::shared_ptr<const RoutingSnapshot> snapshot) override;
  int InFlight(std::string_view endpoint, std::string_view deployment,
               int64_t instance_id) const override;

  // Replaces the table as is (tests that build runtime objects themselves).
  void Publish(std::shared_ptr<const RoutingTable> table);

  // True when the target is a data-plane path (/endpoints/...).
  static bool Matches(std::string_view target);

  // `req` must carry the x-request-id the server assigned.
  http::Awaitable<http::Response> Handle(http::Request& req);

  // The routing table last published (shared with the gRPC gateway).
  std::shared_ptr<const RoutingTable> Table() const;

 private:
  http::Awaitable<http::Response> Forward(http::Request& req, const EndpointRoute& endpoint,
                                          std::shared_ptr<const DeploymentRoute> deployment,
                                          std::string path, std::string_view query, Wire wire);
  http::Awaitable<http::Response> Swagger(http::Request& req, const EndpointRoute& endpoint,
                                          std::shared_ptr<const DeploymentRoute> deployment,
                                          std::string_view query);
  void StartMirror(const http::Request& req, const std::string& endpoint,
                   std::shared_ptr<const DeploymentRoute> mirror, const std::string& path,
                   std::string_view query);
  // Sends queued copies while fewer than the deployment's concurrency are in flight.
  void PumpMirror(const std::string& endpoint, std::shared_ptr<const DeploymentRoute> mirror);

  // The runtime objects of one deployment and its instances, kept across snapshots.
  struct DeploymentRuntime {
    std::shared_ptr<AdmissionGate> gate;
    std::shared_ptr<MirrorQueue> mirror_queue;
    // Instance id -> (incarnation, pool).
    std::map<int64_t, std::pair<uint64_t, std::shared_ptr<http::UpstreamPool>>> pools;
  };
  // Lower-cased endpoint and deployment names, instance id.
  using InstanceKey = std::tuple<std::string, std::string, int64_t>;

  const Clock& clock_;
  RandomSource& random_;
  Metrics& metrics_;
  http::asio::any_io_executor pool_executor_;
  DataPlaneOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const RoutingTable> table_ ABSL_GUARDED_BY(mu_);
  // Serialises snapshot conversions (never held by Handle()).
  absl::Mutex publish_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Keyed "<endpoint key>/<deployment key>".
  std::map<std::string, DeploymentRuntime> runtimes_ ABSL_GUARDED_BY(publish_mu_);
  // Requests in flight per instance. Kept after an instance leaves the snapshot until its
  // count drops to 0, so a draining instance still answers InFlight().
  std::map<InstanceKey, std::shared_ptr<std::atomic<int>>> outstanding_ ABSL_GUARDED_BY(mu_);
};

// Checks an `Authorization` header value ("Bearer <key or token>"; nullopt when absent) against
// the endpoint's auth mode. UNAUTHENTICATED saying what is wrong. Shared by REST and gRPC.
absl::Status CheckCredential(const std::optional<std::string>& authorization,
                             const EndpointRoute& endpoint, SystemTime now);

// Which deployment serves a request: the one named by the azureml-model-deployment header
// (`named`, nullopt when absent), else the traffic split's pick (`split_pick`: a uniform draw,
// used when `follow_split`), else the deployment with the largest share. NOT_FOUND /
// UNAVAILABLE with the message clients see. `*by_rule` is set when the split chose.
absl::StatusOr<std::shared_ptr<const DeploymentRoute>> PickDeployment(
    const EndpointRoute& endpoint, const std::optional<std::string>& named, bool follow_split,
    uint64_t split_pick, bool* by_rule);

// The instance with the fewest outstanding requests (ties: the first). Requires !ready.empty().
const InstanceTarget& LeastLoaded(const std::vector<InstanceTarget>& ready);

// The request to send to an instance: same method, body and headers, minus hop-by-hop headers
// and the endpoint credential, for `path` + `query`.
http::Request UpstreamRequest(const http::Request& req, std::string_view path,
                              std::string_view query, int port);

}  // namespace berth::gateway
