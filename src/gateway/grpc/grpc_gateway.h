#pragma once
// GrpcGateway: berthd's Open Inference Protocol gRPC port, a thin adapter over the Router. It
// reads the endpoint from the `berth-endpoint` metadata, the credential from `authorization`
// and the deployment from `azureml-model-deployment`, hands the call to Router::Route (ModelInfer
// follows the split and is mirrored; other RPCs go to the largest share) and maps the outcome
// to a gRPC status in one place. Answers carry `azureml-model-deployment` and `x-request-id`
// metadata. Instances are reached through GrpcInstanceClient (one channel per instance,
// released when the instance leaves the routing table).
//
// Threading: gRPC's callback API; each call is routed on one of the data-plane io_contexts
// given at construction (round robin), which must run until Shutdown() returns. Start and
// Shutdown from one thread that is not a data-plane thread.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "gateway/router.h"
#include "http/asio.h"

namespace grpc {
class Server;
}

namespace berth::gateway {

struct GrpcGatewayOptions {
  int max_message_bytes = 100 << 20;  // largest request or response message
  // On Shutdown, calls still running after this long are cancelled.
  std::chrono::milliseconds shutdown_grace{1000};
};

class GrpcGateway {
 public:
  GrpcGateway(Router& router, std::vector<http::asio::io_context*> data_plane_threads,
              const Clock& clock, GrpcGatewayOptions options = {});
  ~GrpcGateway();  // Shutdown()

  // Listens on host:port (0 picks a free port); returns the bound port, or UNAVAILABLE.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting calls, cancels those left after the grace period and waits for them.
  void Shutdown();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with completions that may outlive a call
  std::unique_ptr<grpc::Server> server_;
  GrpcGatewayOptions options_;
};

}  // namespace berth::gateway
