#pragma once
// GrpcGateway: berthd's Open Inference Protocol gRPC port. It routes each call to a berth-worker
// instance's gRPC port with the REST data plane's rules: the endpoint from the `berth-endpoint`
// metadata, its key or token from `authorization`, the deployment from
// `azureml-model-deployment` or the traffic split (ModelInfer) / the largest share (other RPCs),
// per-deployment admission, request_timeout_ms as the upstream deadline, and mirroring of
// split-routed ModelInfer calls. Answers carry `azureml-model-deployment` and `x-request-id`
// metadata.
//
// Threading: gRPC's callback API throughout, so no thread waits for an instance; admission runs
// on berthd's io_context. Start and Shutdown from one thread; Shutdown must not wait on that
// io_context making progress (it does not), so it may be called from a handler running on it.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/random.h"
#include "gateway/data_plane.h"
#include "gateway/metrics.h"
#include "http/asio.h"

namespace grpc {
class Server;
}

namespace berth::gateway {

struct GrpcGatewayOptions {
  int max_message_bytes = 100 << 20;  // largest request or response message
  // Mirror copies in flight per deployment are capped at its concurrency
  // (max_concurrent_requests_per_instance × ready instances) times this; more are dropped.
  int mirror_in_flight_factor = 2;
  // On Shutdown, calls still running after this long are cancelled.
  std::chrono::milliseconds shutdown_grace{1000};
  // False only for berthd --no-scoring-auth, as DataPlaneOptions::require_credentials.
  bool require_credentials = true;
};

class GrpcGateway {
 public:
  GrpcGateway(http::asio::io_context& io, DataPlane& data_plane, Metrics& metrics,
              const Clock& clock, RandomSource& random, GrpcGatewayOptions options = {});
  ~GrpcGateway();  // Shutdown()

  // Listens on host:port (0 picks a free port); returns the bound port, or UNAVAILABLE.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting calls, cancels those left after the grace period and waits for them and
  // for mirror copies in flight.
  void Shutdown();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with completions that may outlive a call
  std::unique_ptr<grpc::Server> server_;
  GrpcGatewayOptions options_;
};

}  // namespace berth::gateway
