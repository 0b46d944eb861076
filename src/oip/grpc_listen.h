#pragma once
// Starting a gRPC server on one address, as berth-worker and berthd both do. Header-only: both
// link gRPC through berth_oip_proto.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace berth::oip {

struct Listening {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// Serves `service` on host:port (0 picks a free port). UNAVAILABLE when the address cannot be
// bound, including when another server holds the port.
inline absl::StatusOr<Listening> Listen(const std::string& host, int port, grpc::Service* service,
                                        int max_message_bytes) {
  std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string address = shown + ":" + std::to_string(port);
  Listening out;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &out.port);
  // Without this a second server could bind the same port and take half the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  builder.RegisterService(service);
  out.server = builder.BuildAndStart();
  if (!out.server || out.port == 0) {
    return absl::UnavailableError("cannot listen for gRPC on " + address);
  }
  return out;
}

}  // namespace berth::oip
