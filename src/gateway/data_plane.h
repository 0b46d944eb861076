#pragma once
// DataPlane: serves /endpoints/<endpoint>/score and /swagger.json — authentication, routing by
// traffic or by the azureml-model-deployment header, mirroring, admission, forwarding to an
// instance, and Azure's status rules (401/404/408/424/429/502/503).
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

struct DataPlaneOptions {
  size_t mirror_queue_capacity = 1024;  // copies waiting per mirror deployment; more are dropped
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

 private:
  std::shared_ptr<const RoutingTable> Table() const;
  absl::Status Authenticate(const http::Request& req, const EndpointRoute& endpoint) const;
  http::Awaitable<http::Response> Score(http::Request& req, const EndpointRoute& endpoint,
                                        std::shared_ptr<const DeploymentRoute> deployment,
                                        std::string_view query);
  http::Awaitable<http::Response> Swagger(http::Request& req, const EndpointRoute& endpoint,
                                          std::shared_ptr<const DeploymentRoute> deployment,
                                          std::string_view query);
  void StartMirror(const http::Request& req, const std::string& endpoint,
                   std::shared_ptr<const DeploymentRoute> mirror, std::string_view query);
  // Sends queued copies while fewer than the deployment's concurrency are in flight.
  void PumpMirror(const std::string& endpoint, std::shared_ptr<const DeploymentRoute> mirror);

  const Clock& clock_;
  RandomSource& random_;
  Metrics& metrics_;
  DataPlaneOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const RoutingTable> table_ ABSL_GUARDED_BY(mu_);
};

// The instance with the fewest outstanding requests (ties: the first). Requires !ready.empty().
const InstanceTarget& LeastLoaded(const std::vector<InstanceTarget>& ready);

// The request to send to an instance: same method, body and headers, minus hop-by-hop headers
// and the endpoint credential, for `path` + `query`.
http::Request UpstreamRequest(const http::Request& req, std::string_view path,
                              std::string_view query, int port);

}  // namespace berth::gateway
