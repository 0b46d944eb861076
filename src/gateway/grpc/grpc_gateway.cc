#include "gateway/grpc/grpc_gateway.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "oip/grpc_listen.h"
#include "oip/grpc_service.grpc.pb.h"
#include "oip/grpc_status.h"

namespace berth::gateway {

namespace asio = http::asio;
using Stub = inference::GRPCInferenceService::Stub;
using WallTime = std::chrono::system_clock::time_point;
using Metadata = std::vector<std::pair<std::string, std::string>>;
using UpstreamDone = std::function<void(grpc::Status)>;
// Starts the RPC on an instance, writing its answer where the call keeps it.
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

WallTime ToWall(SteadyTime deadline) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(
             deadline - std::chrono::steady_clock::now());
}

// One server call. The server-side context and response stay valid until the call is
// finished; once an upstream call runs, only its completion finishes this call (it writes into
// the response).
class ServerCall {
 public:
  ServerCall(grpc::CallbackServerContext* ctx)
      : client_deadline(ctx->deadline()),
        forwarded(ForwardedMetadata(ctx->client_metadata())),
        ctx_(ctx) {}

  void set_reactor(grpc::ServerUnaryReactor* reactor) { reactor_ = reactor; }

  // Finishes the server call unless it was already; false when it was.
  bool Finish(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return false;
      finished_ = true;
      upstream_.reset();
    }
    reactor_->Finish(status);
    return true;
  }

  void AddMetadata(const std::string& key, const std::string& value) {
    absl::MutexLock lock(&mu_);
    if (!finished_ && !upstream_) ctx_->AddInitialMetadata(key, value);
  }

  // Prepares the upstream call's context. CANCELLED when the client went away meanwhile,
  // DEADLINE_EXCEEDED (and the call is finished) when its deadline passed while it waited.
  absl::Status BeginUpstream(const std::shared_ptr<grpc::ClientContext>& upstream,
                             WallTime deadline) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return absl::CancelledError("the client cancelled the call");
      if (std::chrono::system_clock::now() < client_deadline) {
        upstream->set_deadline(std::min(deadline, client_deadline));
        for (const auto& [k, v] : forwarded) upstream->AddMetadata(k, v);
        upstream->AddMetadata(kRequestIdKey, request_id);
        upstream_ = upstream;
        return absl::OkStatus();
      }
    }
    Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the client's deadline passed while the call waited for admission"));
    return absl::DeadlineExceededError("the client's deadline passed");
  }

  void EndUpstream() {
    absl::MutexLock lock(&mu_);
    upstream_.reset();
  }

  // The client went away: cancel the upstream call, or finish at once while none runs.
  void Cancel() {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      if (upstream_) {
        upstream_->TryCancel();
        return;
      }
    }
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call"));
  }

  const WallTime client_deadline;
  const Metadata forwarded;
  std::string request_id;

 private:
  grpc::CallbackServerContext* const ctx_;
  grpc::ServerUnaryReactor* reactor_ = nullptr;
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<grpc::ClientContext> upstream_ ABSL_GUARDED_BY(mu_);
};

class CallReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit CallReactor(std::shared_ptr<ServerCall> call) : call_(std::move(call)) {}
  void OnCancel() override {
    std::shared_ptr<ServerCall> keep = call_;
    keep->Cancel();
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<ServerCall> call_;
};

// What one upstream gRPC call needs until its completion runs.
struct Upstream : std::enable_shared_from_this<Upstream> {
  std::shared_ptr<Stub> stub;
  std::shared_ptr<grpc::ClientContext> ctx;
  UpstreamStart* start = nullptr;
};

// The gRPC InstanceCall: a server call routed to an instance, or a mirrored copy of one.
class GrpcCall final : public InstanceCall {
 public:
  using Clone = std::function<std::unique_ptr<InstanceCall>()>;
  GrpcCall(std::shared_ptr<ServerCall> server, Metadata forwarded, std::string request_id,
           UpstreamStart start, Clone clone)
      : server_(std::move(server)),
        forwarded_(std::move(forwarded)),
        request_id_(std::move(request_id)),
        start_(std::move(start)),
        clone_(std::move(clone)) {}

  void Bind(const DeploymentRouting& deployment) override {
    if (server_) server_->AddMetadata(kDeploymentKey, deployment.name);
  }
  std::unique_ptr<InstanceCall> CloneForMirror() const override { return clone_(); }

  // See InstanceClient::Send. The instance's own status, whatever it is, is `answer()`.
  http::Awaitable<absl::Status> Send(std::shared_ptr<Stub> stub, SteadyTime deadline) {
    auto ctx = std::make_shared<grpc::ClientContext>();
    if (server_) {
      absl::Status begun = server_->BeginUpstream(ctx, ToWall(deadline));
      if (!begun.ok()) co_return begun;
    } else {
      ctx->set_deadline(ToWall(deadline));
      for (const auto& [k, v] : forwarded_) ctx->AddMetadata(k, v);
      ctx->AddMetadata(kRequestIdKey, request_id_);
    }
    // The initiation captures a raw pointer only: GCC 12 moves an initiation's captures between
    // coroutine frames bitwise, which would release a captured shared_ptr twice. What the gRPC
    // call needs is kept alive by its completion (a std::function, outside any frame).
    auto upstream = std::make_shared<Upstream>();
    upstream->stub = std::move(stub);
    upstream->ctx = ctx;
    upstream->start = &start_;
    Upstream* raw = upstream.get();
    grpc::Status status =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(grpc::Status)>(
            [raw](auto handler) {
              auto executor = asio::get_associated_executor(handler);
              auto shared = std::make_shared<decltype(handler)>(std::move(handler));
              std::shared_ptr<Upstream> keep = raw->shared_from_this();
              (*raw->start)(
                  raw->stub.get(), raw->ctx.get(), [shared, executor, keep](grpc::Status s) {
                    asio::post(executor,
                               [shared, s = std::move(s)]() mutable { (*shared)(std::move(s)); });
                  });
            },
            asio::use_awaitable);
    if (server_) server_->EndUpstream();
    switch (status.error_code()) {
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        co_return absl::DeadlineExceededError(status.error_message());
      case grpc::StatusCode::CANCELLED:
        co_return absl::CancelledError(status.error_message());
      case grpc::StatusCode::UNAVAILABLE:
        co_return absl::UnavailableError(status.error_message());
      default:
        answer_ = std::move(status);  // the instance answered, maybe with a model error
        co_return absl::OkStatus();
    }
  }

  const grpc::Status& answer() const { return answer_; }

 private:
  std::shared_ptr<ServerCall> server_;  // null for mirrored copies
  Metadata forwarded_;
  std::string request_id_;
  UpstreamStart start_;
  Clone clone_;
  grpc::Status answer_;
};

// One channel per instance, shared by the data-plane threads; released with the instance.
class GrpcChannels {
 public:
  explicit GrpcChannels(int max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  std::shared_ptr<Stub> StubFor(const InstanceAddress& instance) {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Stub>& stub = stubs_[Key(instance)];
    if (!stub) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(max_message_bytes_);
      args.SetMaxSendMessageSize(max_message_bytes_);
      stub = inference::GRPCInferenceService::NewStub(
          grpc::CreateCustomChannel(Target(instance), grpc::InsecureChannelCredentials(), args));
    }
    return stub;
  }
  void Release(const InstanceAddress& instance) {
    absl::MutexLock lock(&mu_);
    stubs_.erase(Key(instance));  // calls in flight keep their stub
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return stubs_.size();
  }

 private:
  // The channel target: the instance's Unix socket when it has one, else host:grpc_port.
  static std::string Target(const InstanceAddress& i) {
    if (!i.grpc_socket.empty()) return "unix:" + i.grpc_socket;
    std::string host = i.host.find(':') != std::string::npos ? "[" + i.host + "]" : i.host;
    return host + ":" + std::to_string(i.grpc_port);
  }
  using StubKey = std::pair<std::string, uint64_t>;
  static StubKey Key(const InstanceAddress& i) { return {Target(i), i.incarnation}; }
  const int max_message_bytes_;
  absl::Mutex mu_;
  std::map<StubKey, std::shared_ptr<Stub>> stubs_ ABSL_GUARDED_BY(mu_);
};

class GrpcInstanceClient final : public InstanceClient {
 public:
  GrpcInstanceClient(asio::any_io_executor executor, GrpcChannels& channels)
      : executor_(std::move(executor)), channels_(channels) {}
  http::Awaitable<absl::Status> Send(const InstanceAddress& instance, InstanceCall& call,
                                     SteadyTime deadline) override {
    co_return co_await static_cast<GrpcCall&>(call).Send(channels_.StubFor(instance), deadline);
  }
  asio::any_io_executor Executor() const override { return executor_; }
  void Release(const InstanceAddress& instance) override { channels_.Release(instance); }

 private:
  asio::any_io_executor executor_;
  GrpcChannels& channels_;
};

// The one mapping from a routed outcome to gRPC.
grpc::Status ToGrpc(const RouteResult& result, const GrpcCall& call) {
  using grpc::StatusCode;
  switch (result.outcome) {
    case Outcome::kAnswered:
      return call.answer();
    case Outcome::kUnauthenticated:
      return {StatusCode::UNAUTHENTICATED, result.message};
    case Outcome::kForbidden:
      return {StatusCode::PERMISSION_DENIED, result.message};
    case Outcome::kNotFound:
      return {StatusCode::NOT_FOUND, result.message};
    case Outcome::kUnavailable:
    case Outcome::kUpstreamFailed:
      return {StatusCode::UNAVAILABLE, result.message};
    case Outcome::kRejected:
    case Outcome::kResponseTooLarge:
      return {StatusCode::RESOURCE_EXHAUSTED, result.message};
    case Outcome::kTimedOut:
      return {StatusCode::DEADLINE_EXCEEDED, result.message};
    case Outcome::kCancelled:
      return {StatusCode::CANCELLED, result.message};
  }
  return {StatusCode::INTERNAL, "unknown outcome"};
}

// A mirrored copy of a ModelInfer call owns its request and response.
struct MirrorState {
  inference::ModelInferRequest request;
  inference::ModelInferResponse response;
};

}  // namespace

class GrpcGateway::Impl final : public inference::GRPCInferenceService::CallbackService,
                                public std::enable_shared_from_this<GrpcGateway::Impl> {
 public:
  Impl(Router& router, std::vector<asio::io_context*> threads, const Clock& clock,
       const GrpcGatewayOptions& options)
      : router_(router), clock_(clock), channels_(options.max_message_bytes) {
    for (asio::io_context* io : threads) {
      clients_.push_back(std::make_unique<GrpcInstanceClient>(io->get_executor(), channels_));
      router_.AddClient(clients_.back().get());
    }
  }
  ~Impl() override {
    for (auto& client : clients_) router_.RemoveClient(client.get());
  }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest* req,
                                       inference::ServerLiveResponse* res) override {
    if (!FindMetadata(ctx->client_metadata(), kEndpointKey)) {
      res->set_live(true);  // berthd itself
      return Answer(ctx, grpc::Status::OK);
    }
    return Route(ctx, "ServerLive", CallKind::kOipOther,
                 [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
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
    return Route(ctx, "ServerReady", CallKind::kOipOther,
                 [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
                   s->async()->ServerReady(c, req, res, std::move(done));
                 });
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* req,
                                           inference::ServerMetadataResponse* res) override {
    return Route(ctx, "ServerMetadata", CallKind::kOipOther,
                 [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
                   s->async()->ServerMetadata(c, req, res, std::move(done));
                 });
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* res) override {
    return Route(ctx, "ModelReady", CallKind::kOipOther,
                 [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
                   s->async()->ModelReady(c, req, res, std::move(done));
                 });
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* res) override {
    return Route(ctx, "ModelMetadata", CallKind::kOipOther,
                 [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
                   s->async()->ModelMetadata(c, req, res, std::move(done));
                 });
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx,
                                       const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override {
    // A mirrored copy carries the client's metadata and a copy of the request.
    Metadata forwarded = ForwardedMetadata(ctx->client_metadata());
    auto clone = [req, forwarded](const std::string& request_id) {
      auto state = std::make_shared<MirrorState>();
      state->request = *req;
      return std::make_unique<GrpcCall>(
          nullptr, forwarded, request_id,
          [state](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
            s->async()->ModelInfer(c, &state->request, &state->response, std::move(done));
          },
          [] { return nullptr; });
    };
    return Route(
        ctx, "ModelInfer", CallKind::kInfer,
        [req, res](Stub* s, grpc::ClientContext* c, UpstreamDone done) {
          s->async()->ModelInfer(c, req, res, std::move(done));
        },
        std::move(clone));
  }

 private:
  static grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, grpc::Status status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  using MirrorClone = std::function<std::unique_ptr<InstanceCall>(const std::string&)>;

  grpc::ServerUnaryReactor* Route(grpc::CallbackServerContext* ctx, const char* method,
                                  CallKind kind, UpstreamStart start, MirrorClone clone = nullptr) {
    const SteadyTime arrival = clock_.Now();
    auto server = std::make_shared<ServerCall>(ctx);
    auto* reactor = new CallReactor(server);
    server->set_reactor(reactor);
    server->request_id = NewGuid();
    ctx->AddInitialMetadata(kRequestIdKey, server->request_id);

    const ClientMetadata& md = ctx->client_metadata();
    auto request = std::make_shared<RouteRequest>();
    std::optional<std::string> endpoint = FindMetadata(md, kEndpointKey);
    if (!endpoint) {
      server->Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "no endpoint named: send the endpoint's name in the 'berth-endpoint' metadata"));
      return reactor;
    }
    request->endpoint = *endpoint;
    request->authorization = FindMetadata(md, "authorization");
    request->deployment = FindMetadata(md, kDeploymentKey);
    request->kind = kind;
    request->needs_grpc = true;
    std::string request_id = server->request_id;
    GrpcCall::Clone copy = [clone, request_id]() -> std::unique_ptr<InstanceCall> {
      return clone ? clone(request_id) : nullptr;
    };
    auto call = std::make_shared<GrpcCall>(server, server->forwarded, request_id, std::move(start),
                                           std::move(copy));
    size_t index = next_thread_.fetch_add(1) % clients_.size();
    GrpcInstanceClient* client = clients_[index].get();
    asio::co_spawn(
        client->Executor(),
        [self = shared_from_this(), request, call, server, client, arrival,
         method]() -> http::Awaitable<void> {
          RouteResult result = co_await self->router_.Route(*request, *call, *client);
          grpc::Status status = ToGrpc(result, *call);
          server->Finish(status);
          int code = result.outcome == Outcome::kCancelled
                         ? 499
                         : oip::HttpEquivalent(status.error_code());
          RequestSummary summary;
          summary.request_id = server->request_id;
          summary.protocol = "grpc";
          summary.method = method;
          summary.path = method;
          summary.status = code;
          summary.arrival = arrival;
          self->router_.Record(result, summary);
        },
        asio::detached);
    return reactor;
  }

  Router& router_;
  const Clock& clock_;
  GrpcChannels channels_;
  std::vector<std::unique_ptr<GrpcInstanceClient>> clients_;
  std::atomic<size_t> next_thread_{0};
};

GrpcGateway::GrpcGateway(Router& router, std::vector<asio::io_context*> data_plane_threads,
                         const Clock& clock, GrpcGatewayOptions options)
    : impl_(std::make_shared<Impl>(router, std::move(data_plane_threads), clock, options)),
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
    // admission) and returns once every call has finished.
    server_->Shutdown(std::chrono::system_clock::now() + options_.shutdown_grace);
    server_->Wait();
    server_.reset();
  }
}

}  // namespace berth::gateway
