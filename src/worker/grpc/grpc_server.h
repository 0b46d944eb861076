#pragma once
// GrpcInferenceServer: berth-worker's Open Inference Protocol gRPC port, a thin adapter over
// InferenceService (the same service the REST adapter serves). It uses gRPC's callback API: a
// ModelInfer waiting for the dynamic batcher holds no thread; the reactor is finished from the
// batcher thread that runs InferenceService::Infer's callback.
//
// Threading: Start and Shutdown from one thread; RPCs run on gRPC's threads.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/inference_service.h"

namespace grpc {
class Server;
}

namespace berth::worker {

struct GrpcServerOptions {
  int max_message_bytes = 100 << 20;  // largest request or response message
};

class GrpcInferenceServer {
 public:
  explicit GrpcInferenceServer(InferenceService& service, GrpcServerOptions options = {});
  ~GrpcInferenceServer();  // Shutdown()

  // Listens on host:port (0 picks a free port) and returns the bound port; UNAVAILABLE when the
  // address cannot be bound.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Stops accepting calls and waits for those in flight (Infer callbacks must still arrive).
  void Shutdown();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  GrpcServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace berth::worker
