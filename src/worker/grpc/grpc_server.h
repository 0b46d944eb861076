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
  // Listens on the Unix socket `path` (gRPC's `unix:<path>`) instead; the socket file is created
  // with mode 0600 and removed by Shutdown(). A file already at `path` is replaced (the caller
  // checks first that it is a stale socket: http::ClaimUnixSocketPath). The umask is narrowed
  // while the socket is created, so call this before other threads create files.
  absl::Status StartOnUnixSocket(const std::string& path);
  // Stops accepting calls and waits for those in flight (Infer callbacks must still arrive).
  void Shutdown();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  GrpcServerOptions options_;
  std::unique_ptr<grpc::Server> server_;
  std::string unix_socket_;  // removed at Shutdown
};

}  // namespace berth::worker
