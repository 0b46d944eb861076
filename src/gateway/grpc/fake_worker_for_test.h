#pragma once
// FakeWorker: a berth-worker instance's gRPC port for gateway tests.

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "oip/grpc_service.grpc.pb.h"

namespace berth::gateway {

inline constexpr absl::Duration kPatience = absl::Seconds(20);

// A berth-worker instance's gRPC port: answers ModelInfer with its own name as model_name.
// While blocked it holds ModelInfer calls until Unblock().
class FakeWorker final : public inference::GRPCInferenceService::CallbackService {
 public:
  // Listens on a loopback port, or on the Unix socket `unix_path` when given (port() is then
  // not a TCP port).
  explicit FakeWorker(std::string name, std::string unix_path = "") : name_(std::move(name)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(unix_path.empty() ? "127.0.0.1:0" : "unix:" + unix_path,
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeWorker() override {
    Unblock();
    server_->Shutdown();
  }
  int port() const { return port_; }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* res) override {
    res->set_live(true);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* res) override {
    res->set_name(req->name());
    res->set_platform(name_);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override {
    auto* reactor = ctx->DefaultReactor();
    res->set_model_name(name_);
    res->set_id(req->id());
    absl::MutexLock lock(&mu_);
    ++calls_;
    auto md = ctx->client_metadata();
    saw_credential_ = md.find("authorization") != md.end();
    auto rid = md.find("x-request-id");
    if (rid != md.end()) last_request_id_ = std::string(rid->second.data(), rid->second.size());
    if (blocked_) {
      held_.push_back(reactor);
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  void Block() {
    absl::MutexLock lock(&mu_);
    blocked_ = true;
  }
  void Unblock() {
    absl::MutexLock lock(&mu_);
    blocked_ = false;
    for (auto* r : held_) r->Finish(grpc::Status::OK);
    held_.clear();
  }
  bool AwaitCalls(int n) {
    absl::MutexLock lock(&mu_);
    std::pair<int*, int> arg(&calls_, n);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::pair<int*, int>* a) { return *a->first >= a->second; }, &arg),
        kPatience);
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  bool saw_credential() {
    absl::MutexLock lock(&mu_);
    return saw_credential_;
  }
  std::string last_request_id() {
    absl::MutexLock lock(&mu_);
    return last_request_id_;
  }

 private:
  std::string name_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool blocked_ ABSL_GUARDED_BY(mu_) = false;
  bool saw_credential_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_request_id_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway
