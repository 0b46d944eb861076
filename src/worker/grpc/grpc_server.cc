#include "worker/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "oip/grpc_listen.h"
#include "oip/grpc_service.grpc.pb.h"
#include "oip/grpc_status.h"
#include "worker/grpc/oip_convert.h"

namespace berth::worker {

using oip::ToGrpcStatus;

class GrpcInferenceServer::Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit Service(InferenceService& service) : service_(service) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* res) override {
    res->set_live(service_.Live());
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* res) override {
    res->set_ready(service_.Ready());
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* res) override {
    auto ready = service_.ModelReady(req->name(), req->version());
    if (!ready.ok()) return Done(ctx, ToGrpcStatus(ready.status()));
    res->set_ready(*ready);
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* res) override {
    worker::ServerMetadata m = service_.Metadata();
    res->set_name(m.name);
    res->set_version(m.version);
    for (const auto& e : m.extensions) res->add_extensions(e);
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* res) override {
    auto metadata = service_.GetModelMetadata(req->name(), req->version());
    if (!metadata.ok()) return Done(ctx, ToGrpcStatus(metadata.status()));
    grpc_api::EncodeModelMetadata(*metadata, res);
    return Done(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto decoded = grpc_api::DecodeInferRequest(*req);
    if (!decoded.ok()) {
      reactor->Finish(ToGrpcStatus(decoded.status()));
      return reactor;
    }
    const bool raw = decoded->raw;
    // `req` and `res` stay valid until Finish, which only this callback calls.
    service_.Infer(req->model_name(), req->model_version(), std::move(decoded->request),
                   [reactor, req, res, raw](absl::StatusOr<InferResponse> answer) {
                     if (!answer.ok()) {
                       reactor->Finish(ToGrpcStatus(answer.status()));
                       return;
                     }
                     if (answer->model_name.empty()) answer->model_name = req->model_name();
                     if (answer->model_version.empty()) {
                       answer->model_version = req->model_version();
                     }
                     answer->id = req->id();
                     reactor->Finish(
                         ToGrpcStatus(grpc_api::EncodeInferResponse(*std::move(answer), raw, res)));
                   });
    return reactor;
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, grpc::Status status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  InferenceService& service_;
};

GrpcInferenceServer::GrpcInferenceServer(InferenceService& service, GrpcServerOptions options)
    : service_(std::make_unique<Service>(service)), options_(options) {}

GrpcInferenceServer::~GrpcInferenceServer() { Shutdown(); }

absl::StatusOr<int> GrpcInferenceServer::Start(const std::string& host, int port) {
  auto listening = oip::Listen(host, port, service_.get(), options_.max_message_bytes);
  if (!listening.ok()) return listening.status();
  server_ = std::move(listening->server);
  return listening->port;
}

absl::Status GrpcInferenceServer::StartOnUnixSocket(const std::string& path) {
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials(), &bound);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  builder.SetMaxSendMessageSize(options_.max_message_bytes);
  builder.RegisterService(service_.get());
  // gRPC binds and listens in one step: the umask makes the file 0600 from the start, so there
  // is no moment when it is open to others; chmod says so explicitly afterwards.
  mode_t previous = ::umask(0177);
  server_ = builder.BuildAndStart();
  ::umask(previous);
  if (!server_ || bound == 0) {
    server_.reset();
    return absl::UnavailableError("cannot listen for gRPC on unix:" + path);
  }
  unix_socket_ = path;
  if (::chmod(path.c_str(), 0600) != 0) {
    return absl::UnavailableError("cannot set the mode of " + path + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

void GrpcInferenceServer::Shutdown() {
  if (!server_) return;
  server_->Shutdown();
  server_->Wait();
  server_.reset();
  if (!unix_socket_.empty()) {
    ::unlink(unix_socket_.c_str());
    unix_socket_.clear();
  }
}

}  // namespace berth::worker
