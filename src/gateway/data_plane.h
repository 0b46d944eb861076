#pragma once
// DataPlane: serves /endpoints/<endpoint>/score, /swagger.json and the Open Inference
// Protocol's /endpoints/<endpoint>/v2/... — authentication, routing by traffic or by the
// azureml-model-deployment header, mirroring, admission, forwarding to an instance, and the
// status rules: Azure's on /score (401/404/408/424/429/502/503), OIP's on /v2 (model statuses
// pass through; the gateway's own errors are {"error": "..."}). Infer calls follow the traffic
// split; other /v2 calls and swagger go to the deployment with the largest share.
//
// Threading: Handle() runs on the gateway's io_context; Publish() may be called from any thread.

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/random.h"
#include "gateway/metrics.h"
#include "gateway/routing.h"
#include "http/asio.h"

namespace berth::gateway {

// Which error shape a data-plane route speaks: berth's (/score, /swagger.json) or the Open
// Inference Protocol's (/v2/...).
enum class Wire { kBerth, kOip };

struct DataPlaneOptions {
  size_t mirror_queue_capacity = 1024;  // copies waiting per mirror deployment; more are dropped
  // False only for berthd --no-scoring-auth (the local berthd of `berth ... --local`): scoring
  // requests need no key or token, whatever the endpoint's auth_mode.
  bool require_credentials = true;
};

class DataPlane {
 public:
  DataPlane(const Clock& clock, RandomSource& random, Metrics& metrics,
            DataPlaneOptions options = {});

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

  const Clock& clock_;
  RandomSource& random_;
  Metrics& metrics_;
  DataPlaneOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const RoutingTable> table_ ABSL_GUARDED_BY(mu_);
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
