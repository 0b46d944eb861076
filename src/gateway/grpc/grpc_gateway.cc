#include "gateway/grpc/grpc_gateway.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "common/status_macros.h"
#include "oip/grpc_listen.h"
#include "oip/grpc_service.grpc.pb.h"
#include "oip/grpc_status.h"

namespace berth::gateway {

namespace asio = http::asio;
using oip::ToGrpcStatus;
using Stub = inference::GRPCInferenceService::Stub;
using WallTime = std::chrono::system_clock::time_point;
using Metadata = std::vector<std::pair<std::string, std::string>>;
using UpstreamDone = std::function<void(grpc::Status)>;
// Starts the RPC on an instance, writing its answer into the server call's response.
using UpstreamStart = std::function<void(Stub*, grpc::ClientContext*, UpstreamDone)>;

namespace {

constexpr char kEndpointKey[] = "berth-endpoint";
constexpr char kDeploymentKey[] = "azureml-model-deployment";
constexpr char kRequestIdKey[] = "x-request-id";

using ClientMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;

std::optional<std::string> FindMetadata(const ClientMetadata& md, std::string_view key) {
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

// Client metadata passed on to the instance: everything but the routing keys, the endpoint
// credential, and what gRPC itself sets.
Metadata ForwardedMetadata(const ClientMetadata& md) {
  static const char* kDropped[] = {kEndpointKey, kDeploymentKey, kRequestIdKey,  "authorization",
                                   "user-agent", "te",           "content-type", "host"};
  Metadata out;
  for (const auto& [k, v] : md) {
    std::string key(k.data(), k.size());
    if (key.empty() || key[0] == ':' || absl::StartsWith(key, "grpc-")) continue;
    if (std::any_of(std::begin(kDropped), std::end(kDropped),
                    [&](const char* d) { return key == d; })) {
      continue;
    }
    out.emplace_back(std::move(key), std::string(v.data(), v.size()));
  }
  return out;
}

// The deployment's instances that serve gRPC (berth-worker instances).
std::vector<InstanceTarget> GrpcInstances(const DeploymentRoute& deployment) {
  std::vector<InstanceTarget> out;
  for (const InstanceTarget& i : deployment.ready) {
    if (i.grpc_port != 0) out.push_back(i);
  }
  return out;
}

double SecondsSince(const Clock& clock, SteadyTime start) {
  return std::chrono::duration<double>(clock.Now() - start).count();
}

class CallReactor;

// One server call being routed. The server-side context, request and response stay valid until
// the call is finished; after that only the shared state here is touched (a late admission
// completion may still hold it).
class Call {
 public:
  Call(grpc::CallbackServerContext* ctx, bool is_infer, UpstreamStart start, SteadyTime now)
      : is_infer(is_infer),
        start(std::move(start)),
        arrival(std::chrono::system_clock::now()),
        start_time(now),
        client_deadline(ctx->deadline()),
        forwarded(ForwardedMetadata(ctx->client_metadata())),
        ctx_(ctx) {}

  void set_reactor(grpc::ServerUnaryReactor* reactor) { reactor_ = reactor; }
  grpc::CallbackServerContext* ctx() const { return ctx_; }

  // Finishes the server call unless it was already; false when it was.
  bool Finish(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return false;
      finished_ = true;
    }
    Finished(status);
    return true;
  }

  void AddMetadata(const std::string& key, const std::string& value) {
    absl::MutexLock lock(&mu_);
    if (!finished_) ctx_->AddInitialMetadata(key, value);
  }

  bool finished() const {
    absl::MutexLock lock(&mu_);
    return finished_;
  }

  // The client context of the upstream call, or nullptr when the call was finished meanwhile
  // (cancelled). Once it exists, only the upstream call's completion finishes this call.
  grpc::ClientContext* BeginUpstream(WallTime deadline) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return nullptr;
      if (std::chrono::system_clock::now() < client_deadline) {
        upstream_ = std::make_unique<grpc::ClientContext>();
        upstream_->set_deadline(deadline);
        for (const auto& [k, v] : forwarded) upstream_->AddMetadata(k, v);
        upstream_->AddMetadata(kRequestIdKey, request_id);
        return upstream_.get();
      }
      finished_ = true;
    }
    // The client gave up while the call waited for admission: nothing to send.
    Finished(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "the client's deadline passed while the call waited for admission"));
    return nullptr;
  }

  // The client went away: cancel the upstream call, or finish at once while none is running.
  void Cancel() {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (upstream_) {
        upstream_->TryCancel();
        return;
      }
      finished_ = true;
    }
    Finished(grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call"));
  }

  const bool is_infer;
  const UpstreamStart start;
  const WallTime arrival;
  const SteadyTime start_time;
  const WallTime client_deadline;
  const Metadata forwarded;
  std::string request_id;
  std::string endpoint;                       // as the client named it
  std::shared_ptr<const RoutingTable> table;  // keeps the endpoint and deployment alive
  const EndpointRoute* endpoint_route = nullptr;
  std::shared_ptr<const DeploymentRoute> deployment;
  // Runs once, however the call ends, just before the client is answered (metrics).
  std::function<void(const Call&, const grpc::Status&)> on_finish;

 private:
  void Finished(const grpc::Status& status) {
    if (on_finish) on_finish(*this, status);
    reactor_->Finish(status);
  }

  grpc::CallbackServerContext* const ctx_;
  grpc::ServerUnaryReactor* reactor_ = nullptr;
  mutable absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::ClientContext> upstream_ ABSL_GUARDED_BY(mu_);
};

class CallReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit CallReactor(std::shared_ptr<Call> call) : call_(std::move(call)) {}
  void OnCancel() override {
    std::shared_ptr<Call> keep = call_;
    keep->Cancel();
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<Call> call_;
};

// A mirrored copy on its way to an instance; owns everything the async call writes to.
struct MirrorCall {
  grpc::ClientContext ctx;
  inference::ModelInferRequest request;
  inference::ModelInferResponse response;
};

}  // namespace

class GrpcGateway::Impl final : public inference::GRPCInferenceService::CallbackService,
                                public std::enable_shared_from_this<GrpcGateway::Impl> {
 public:
  Impl(asio::io_context& io, DataPlane& data_plane, Metrics& metrics, const Clock& clock,
       RandomSource& random, const GrpcGatewayOptions& options)
      : io_(io),
        data_plane_(data_plane),
        metrics_(metrics),
        clock_(clock),
        random_(random),
        options_(options) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest* req,
                                       inference::ServerLiveResponse* res) override {
    if (!FindMetadata(ctx->client_metadata(), kEndpointKey)) {
      res->set_live(true);  // berthd itself
      return Answer(ctx, grpc::Status::OK);
    }
    return Route(ctx, [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
      s->async()->ServerLive(c, req, res, std::move(done));
    });
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest* req,
                                        inference::ServerReadyResponse* res) override {
    if (!FindMetadata(ctx->client_metadata(), kEndpointKey)) {
      res->set_ready(true);  // berthd itself
      return Answer(ctx, grpc::Status::OK);
    }
    return Route(ctx, [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
      s->async()->ServerReady(c, req, res, std::move(done));
    });
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* req,
                                           inference::ServerMetadataResponse* res) override {
    return Route(ctx, [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
      s->async()->ServerMetadata(c, req, res, std::move(done));
    });
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* res) override {
    return Route(ctx, [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
      s->async()->ModelReady(c, req, res, std::move(done));
    });
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* res) override {
    return Route(ctx, [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
      s->async()->ModelMetadata(c, req, res, std::move(done));
    });
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override {
    auto [call, reactor] = NewCall(ctx, /*is_infer=*/true,
                                   [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
                                     s->async()->ModelInfer(c, req, res, std::move(done));
                                   });
    bool by_rule = false;
    if (absl::Status s = Resolve(*call, /*follow_split=*/true, &by_rule); !s.ok()) {
      Complete(*call, ToGrpcStatus(s));
      return reactor;
    }
    if (by_rule) MaybeMirror(*call, *req);
    Admit(call);
    return reactor;
  }

  // Cancels mirrored copies still in flight and waits for their completions.
  void StopMirrors() {
    std::vector<std::shared_ptr<MirrorCall>> calls;
    {
      absl::MutexLock lock(&mirror_mu_);
      calls.assign(mirror_calls_.begin(), mirror_calls_.end());
    }
    for (const auto& m : calls) m->ctx.TryCancel();
    absl::MutexLock lock(&mirror_mu_);
    mirror_mu_.Await(absl::Condition(
        +[](std::set<std::shared_ptr<MirrorCall>>* s) { return s->empty(); }, &mirror_calls_));
  }

 private:
  static grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, grpc::Status status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  std::pair<std::shared_ptr<Call>, grpc::ServerUnaryReactor*> NewCall(
      grpc::CallbackServerContext* ctx, bool is_infer, UpstreamStart start) {
    auto call = std::make_shared<Call>(ctx, is_infer, std::move(start), clock_.Now());
    auto* reactor = new CallReactor(call);
    call->set_reactor(reactor);
    if (is_infer) {
      // Holds the Impl weakly: a call never keeps the gateway alive.
      call->on_finish = [weak = weak_from_this()](const Call& c, const grpc::Status& status) {
        if (auto self = weak.lock()) self->Record(c, status);
      };
    }
    call->request_id = NewGuid();
    ctx->AddInitialMetadata(kRequestIdKey, call->request_id);
    return {call, reactor};
  }

  // Health and metadata RPCs: to the deployment with the largest share, without admission.
  grpc::ServerUnaryReactor* Route(grpc::CallbackServerContext* ctx, UpstreamStart start) {
    auto [call, reactor] = NewCall(ctx, /*is_infer=*/false, std::move(start));
    bool by_rule = false;
    if (absl::Status s = Resolve(*call, /*follow_split=*/false, &by_rule); !s.ok()) {
      Complete(*call, ToGrpcStatus(s));
      return reactor;
    }
    Forward(call, /*admitted=*/false);
    return reactor;
  }

  // Endpoint, credential and deployment, by the REST data plane's rules.
  absl::Status Resolve(Call& call, bool follow_split, bool* by_rule) {
    const ClientMetadata& md = call.ctx()->client_metadata();
    std::optional<std::string> name = FindMetadata(md, kEndpointKey);
    if (!name) {
      return absl::InvalidArgumentError(
          "no endpoint named: send the endpoint's name in the 'berth-endpoint' metadata");
    }
    call.endpoint = *name;
    call.table = data_plane_.Table();
    auto it = call.table->find(*name);
    if (it == call.table->end()) return absl::NotFoundError("endpoint '" + *name + "' not found");
    call.endpoint_route = it->second.get();
    if (options_.require_credentials) {
      RETURN_IF_ERROR(
          CheckCredential(FindMetadata(md, "authorization"), *it->second, clock_.WallNow()));
    }
    ASSIGN_OR_RETURN(call.deployment, PickDeployment(*it->second, FindMetadata(md, kDeploymentKey),
                                                     follow_split, random_.Next(), by_rule));
    call.AddMetadata(kDeploymentKey, call.deployment->name);
    return absl::OkStatus();
  }

  void Complete(Call& call, const grpc::Status& status) { call.Finish(status); }

  void Record(const Call& call, const grpc::Status& status) {
    if (call.endpoint.empty()) return;  // no endpoint named: nothing to count it under
    metrics_.RecordRequest(call.endpoint, call.deployment ? call.deployment->name : "",
                           oip::HttpEquivalent(status.error_code()),
                           SecondsSince(clock_, call.start_time));
  }

  absl::Status NoGrpcInstance(const DeploymentRoute& deployment) {
    return absl::UnavailableError("deployment '" + deployment.name +
                                  "' has no ready instance serving gRPC (berth-worker models)");
  }

  // Admission runs on berthd's io_context; the call goes on in its completion.
  void Admit(const std::shared_ptr<Call>& call) {
    const DeploymentRoute& deployment = *call->deployment;
    if (GrpcInstances(deployment).empty()) {
      Complete(*call, ToGrpcStatus(NoGrpcInstance(deployment)));
      return;
    }
    asio::co_spawn(
        io_.get_executor(), deployment.gate->Enter(deployment.limits()),
        [self = shared_from_this(), call](std::exception_ptr error, absl::Status admitted) {
          if (error) admitted = absl::InternalError("admission failed");
          if (!admitted.ok()) {
            self->Complete(*call, ToGrpcStatus(admitted));
            return;
          }
          self->Forward(call, /*admitted=*/true);
        });
  }

  void Forward(const std::shared_ptr<Call>& call, bool admitted) {
    std::shared_ptr<const DeploymentRoute> deployment = call->deployment;
    auto leave = [&] {
      if (admitted) deployment->gate->Leave(deployment->limits());
    };
    if (call->finished()) {  // cancelled while waiting for admission
      leave();
      return;
    }
    std::vector<InstanceTarget> ready = GrpcInstances(*deployment);
    if (ready.empty()) {
      leave();
      Complete(*call, ToGrpcStatus(NoGrpcInstance(*deployment)));
      return;
    }
    const InstanceTarget& instance = LeastLoaded(ready);
    Stub* stub = Upstream(instance.grpc_port);
    // The deadline counts from arrival at the gateway, admission wait included.
    const int timeout_ms = deployment->request_settings.request_timeout_ms;
    WallTime ours = call->arrival + std::chrono::milliseconds(timeout_ms);
    const bool ours_binds = ours <= call->client_deadline;
    grpc::ClientContext* upstream = call->BeginUpstream(std::min(ours, call->client_deadline));
    if (upstream == nullptr) {
      leave();
      return;
    }
    std::shared_ptr<std::atomic<int>> outstanding = instance.outstanding;
    if (outstanding) outstanding->fetch_add(1);
    if (call->is_infer) metrics_.AddInFlight(call->endpoint, deployment->name, 1);
    call->start(stub, upstream,
                [self = shared_from_this(), call, outstanding, admitted, ours_binds,
                 timeout_ms](grpc::Status status) {
                  const DeploymentRoute& d = *call->deployment;
                  if (outstanding) outstanding->fetch_sub(1);
                  if (call->is_infer) self->metrics_.AddInFlight(call->endpoint, d.name, -1);
                  if (admitted) d.gate->Leave(d.limits());
                  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && ours_binds) {
                    status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                          "deployment '" + d.name +
                                              "' did not answer within request_timeout_ms (" +
                                              std::to_string(timeout_ms) + " ms)");
                  } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
                    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          "instance of deployment '" + d.name +
                                              "' failed: " + status.error_message());
                  }
                  self->Complete(*call, status);
                });
  }

  // Sends a copy of a split-routed ModelInfer to the mirror deployment when the split says so.
  // Never waits for it; drops it when too many copies are in flight already.
  void MaybeMirror(const Call& call, const inference::ModelInferRequest& req) {
    const EndpointRoute& endpoint = *call.endpoint_route;
    if (!endpoint.splitter) return;
    std::optional<std::string> name = endpoint.splitter->Mirror(random_.Next());
    if (!name) return;
    auto it = endpoint.deployments.find(*name);
    if (it == endpoint.deployments.end()) {
      metrics_.RecordMirror(endpoint.name, *name, "dropped");
      return;
    }
    std::shared_ptr<const DeploymentRoute> mirror = it->second;
    std::vector<InstanceTarget> ready = GrpcInstances(*mirror);
    if (ready.empty()) {
      metrics_.RecordMirror(endpoint.name, mirror->name, "dropped");
      return;
    }
    const int limit = std::max(1, mirror->limits().running_limit()) *
                      std::max(1, options_.mirror_in_flight_factor);
    auto copy = std::make_shared<MirrorCall>();
    const auto key = std::make_pair(endpoint.name, mirror->name);
    {
      absl::MutexLock lock(&mirror_mu_);
      int& in_flight = mirror_in_flight_[key];
      if (in_flight >= limit) {
        metrics_.RecordMirror(endpoint.name, mirror->name, "dropped");
        return;
      }
      ++in_flight;
      mirror_calls_.insert(copy);
    }
    copy->request = req;
    copy->ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(mirror->request_settings.request_timeout_ms));
    for (const auto& [k, v] : call.forwarded) copy->ctx.AddMetadata(k, v);
    copy->ctx.AddMetadata(kRequestIdKey, call.request_id);
    const InstanceTarget& instance = LeastLoaded(ready);
    std::shared_ptr<std::atomic<int>> outstanding = instance.outstanding;
    if (outstanding) outstanding->fetch_add(1);
    Upstream(instance.grpc_port)
        ->async()
        ->ModelInfer(&copy->ctx, &copy->request, &copy->response,
                     [self = shared_from_this(), copy, key, outstanding](grpc::Status status) {
                       if (outstanding) outstanding->fetch_sub(1);
                       self->metrics_.RecordMirror(key.first, key.second,
                                                   status.ok() ? "sent" : "failed");
                       absl::MutexLock lock(&self->mirror_mu_);
                       --self->mirror_in_flight_[key];
                       self->mirror_calls_.erase(copy);
                     });
  }

  // One channel per instance port, kept for reuse (a channel reconnects by itself).
  Stub* Upstream(int port) {
    absl::MutexLock lock(&stubs_mu_);
    std::unique_ptr<Stub>& stub = stubs_[port];
    if (!stub) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(options_.max_message_bytes);
      args.SetMaxSendMessageSize(options_.max_message_bytes);
      stub = inference::GRPCInferenceService::NewStub(grpc::CreateCustomChannel(
          "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
    }
    return stub.get();
  }

  asio::io_context& io_;
  DataPlane& data_plane_;
  Metrics& metrics_;
  const Clock& clock_;
  RandomSource& random_;
  const GrpcGatewayOptions options_;

  absl::Mutex stubs_mu_;
  std::map<int, std::unique_ptr<Stub>> stubs_ ABSL_GUARDED_BY(stubs_mu_);

  absl::Mutex mirror_mu_;
  std::map<std::pair<std::string, std::string>, int> mirror_in_flight_ ABSL_GUARDED_BY(mirror_mu_);
  std::set<std::shared_ptr<MirrorCall>> mirror_calls_ ABSL_GUARDED_BY(mirror_mu_);
};

GrpcGateway::GrpcGateway(asio::io_context& io, DataPlane& data_plane, Metrics& metrics,
                         const Clock& clock, RandomSource& random, GrpcGatewayOptions options)
    : impl_(std::make_shared<Impl>(io, data_plane, metrics, clock, random, options)),
      options_(options) {}

GrpcGateway::~GrpcGateway() { Shutdown(); }

absl::StatusOr<int> GrpcGateway::Start(const std::string& host, int port) {
  auto listening = oip::Listen(host, port, impl_.get(), options_.max_message_bytes);
  if (!listening.ok()) return listening.status();
  server_ = std::move(listening->server);
  return listening->port;
}

void GrpcGateway::Shutdown() {
  if (server_) {
    // Cancels calls still running at the deadline (OnCancel finishes those waiting for
    // admission without the io_context) and returns once every call has finished.
    server_->Shutdown(std::chrono::system_clock::now() + options_.shutdown_grace);
    server_->Wait();
    server_.reset();
  }
  impl_->StopMirrors();
}

}  // namespace berth::gateway
