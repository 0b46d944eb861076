#pragma once
// Router: the data plane's one routing core, whatever the protocol. For each request it does
// endpoint lookup, the credential check, the choice of deployment (the azureml-model-deployment
// header, else the traffic split or the largest share), mirroring, per-deployment admission
// (Azure's 429 rule, exact across data-plane threads), the choice of instance (least loaded),
// the deadline (request_timeout_ms from arrival) and the classification of the outcome. REST
// (DataPlane) and gRPC (GrpcGateway) are thin adapters: they parse their protocol, call
// Route(), and map the Outcome to their protocol in one place each.
//
// The router owns the data plane's runtime objects — admission gates, mirror queues, in-flight
// counters — and builds them from the plain RoutingSnapshot the control plane publishes. Pools
// and channels live in the InstanceClients; the router tells them when an instance is gone.
//
// Threading: Route() runs on any data-plane thread; Publish(), InFlight() and CheckAccess() may
// be called from any thread. Clock and randomness are injected.

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/random.h"
#include "gateway/access_log.h"
#include "gateway/admission_gate.h"
#include "gateway/instance_client.h"
#include "gateway/metrics.h"
#include "gateway/route_snapshot.h"
#include "gateway/traffic_splitter.h"

namespace berth::gateway {

// What a request asks of a deployment. Calls that follow the split are mirrored.
enum class CallKind {
  kScore,     // /score: follows the split; any kind of deployment
  kSwagger,   // the swagger document: the largest share; any kind of deployment
  kInfer,     // OIP infer: follows the split; deployments that speak OIP only
  kOipOther,  // OIP health and metadata: the largest share; deployments that speak OIP only
};

struct RouteRequest {
  std::string endpoint;                      // as the client named it
  std::optional<std::string> authorization;  // "Bearer <key or token>", nullopt when absent
  std::optional<std::string> deployment;     // the azureml-model-deployment header
  CallKind kind = CallKind::kScore;
  bool needs_grpc = false;  // only instances with a gRPC port will do
  // The request came through berthd's private listener; see
  // EndpointRouting::public_network_access.
  bool private_listener = false;
};

// How a routed request ended. Each adapter maps these to its protocol in one place.
enum class Outcome {
  kAnswered,          // the instance answered; the answer is in the call
  kUnauthenticated,   // no valid credential for the named endpoint (whether or not it exists)
  kForbidden,         // valid credential, but the endpoint is closed to public network access
                      // and the request came through a public listener
  kNotFound,          // no such deployment, no traffic, or a protocol the deployment lacks
  kUnavailable,       // the deployment has no ready instance (or is not serving yet)
  kRejected,          // admission: too many requests (429)
  kTimedOut,          // no answer within request_timeout_ms
  kUpstreamFailed,    // the instance could not be reached or failed mid-way
  kResponseTooLarge,  // the instance's answer exceeds the gateway's limit
  kCancelled,         // the client went away
};

struct RouteResult {
  Outcome outcome = Outcome::kAnswered;
  std::string message;     // for the client, when not answered
  std::string deployment;  // the chosen deployment, as written; "" before one was chosen
  std::string endpoint;    // the endpoint as stored; "" unless the credential was valid
  int64_t instance = 0;    // the instance sent to last; 0 when none was
  // Arrival to the (last) send: admission queue, waiting for a cold instance, routing.
  std::chrono::nanoseconds queue_time{0};
  // Time spent with instances (every try), send to answer.
  std::chrono::nanoseconds model_time{0};
  int attempts = 0;  // sends to an instance: 2 when retried after an instance failed
};

// What an adapter knows of a finished request besides its RouteResult: for the metrics and
// the access log. Never a header value: credentials travel in headers.
struct RequestSummary {
  std::string request_id;
  std::string protocol = "http";  // "http" or "grpc"
  std::string method;             // HTTP method, or the gRPC method's name
  std::string path;               // without the query string
  int status = 0;                 // what the client got (gRPC: the HTTP equivalent)
  uint64_t bytes_in = 0;          // request body
  uint64_t bytes_out = 0;         // response body
  SteadyTime arrival;
};

struct RouterOptions {
  // false on a per-user local daemon (loopback only): scoring needs no credential.
  bool require_credentials = true;
  // Mirrored copies waiting per mirror deployment; more are dropped.
  size_t mirror_queue_capacity = 1024;
};

struct LiveInstance;  // router.cc

class Router final : public RoutingSink {
 public:
  Router(const Clock& clock, RandomSource& random, Metrics& metrics, RouterOptions options = {});
  ~Router() override;

  void Publish(std::shared_ptr<const RoutingSnapshot> snapshot) override;
  int InFlight(std::string_view endpoint, std::string_view deployment,
               int64_t instance_id) const override;
  DeploymentLoad Load(std::string_view endpoint, std::string_view deployment) const override;
  // Told of requests waiting for a deployment with no ready instance. Set before serving, or
  // nullptr; must outlive the router's use of it.
  void SetDemandObserver(DemandObserver* observer);

  // The header-time check, before a body is read: OK when the endpoint exists and the
  // credential is valid for it. UNAUTHENTICATED otherwise, with the same message whether or not
  // the endpoint exists (names cannot be probed); NOT_FOUND for an unknown endpoint when
  // credentials are not required. Then PERMISSION_DENIED when the endpoint is closed to public
  // network access and the request did not come through the private listener: checked after
  // the credential, so that it tells nothing to a caller who may not use the endpoint.
  absl::Status CheckAccess(std::string_view endpoint,
                           const std::optional<std::string>& authorization,
                           bool private_listener = false) const;

  // Routes one request and sends `call` to an instance through `client`. `call` and `client`
  // must outlive the returned awaitable; mirrored copies are sent through `client` later, so a
  // client must also outlive the router's use of it (see AddClient).
  http::Awaitable<RouteResult> Route(const RouteRequest& request, InstanceCall& call,
                                     InstanceClient& client);

  // Counts a finished request in the metrics, with labels only from an authenticated endpoint,
  // and writes its access-log line. Any data-plane thread; never blocks on I/O.
  void Record(const RouteResult& result, const RequestSummary& summary);
  // Where Record writes one line per request; nullptr (the default) for none. The log must
  // outlive the router's use of it (unset it first). Any thread.
  void SetAccessLog(AccessLog* log);

  // Clients to tell when an instance leaves the routing table (they release its connections).
  // Registered clients must outlive the router or be removed first.
  void AddClient(InstanceClient* client);
  void RemoveClient(InstanceClient* client);

  // Stops mirroring: queued copies are dropped; copies in flight finish on their own.
  void StopMirroring();

  // Snapshot of the routes last published (for tests and views).
  std::shared_ptr<const RoutingSnapshot> Snapshot() const;

  // The deployment's admission gate, for tests: nullptr when unknown.
  std::shared_ptr<AdmissionGate> GateForTest(std::string_view endpoint,
                                             std::string_view deployment) const;
  // Mirrored copies waiting and in flight to a deployment, for tests.
  std::pair<size_t, int> MirrorQueueForTest(std::string_view endpoint,
                                            std::string_view deployment) const;

 private:
  struct Live;
  struct LiveEndpoint;
  struct LiveDeployment;
  struct DeploymentRuntime;
  struct MirrorCopy;

  std::shared_ptr<const Live> Current() const;
  // Endpoint and credential, as CheckAccess; the live endpoint on success.
  absl::StatusOr<std::shared_ptr<const LiveEndpoint>> Authenticate(
      const Live& live, std::string_view endpoint, const std::optional<std::string>& authorization,
      bool private_listener) const;
  absl::StatusOr<std::shared_ptr<const LiveEndpoint>> CheckCredential(
      const Live& live, std::string_view endpoint,
      const std::optional<std::string>& authorization) const;
  // The deployment as last published (the same runtime), else `deployment` itself.
  std::shared_ptr<const LiveDeployment> Newest(
      const std::shared_ptr<const LiveDeployment>& deployment) const;
  // Passes over an instance a request found dead, for kDownFor or until it is republished.
  void MarkDown(const std::shared_ptr<const LiveDeployment>& deployment,
                const LiveInstance& instance, const http::asio::any_io_executor& executor);
  void Mirror(const LiveEndpoint& endpoint, std::shared_ptr<const LiveDeployment> target,
              const InstanceCall& call, InstanceClient& client);
  // Sends waiting copies while fewer than the deployment's concurrency are in flight.
  void PumpMirror(std::shared_ptr<const LiveDeployment> target);

  const Clock& clock_;
  RandomSource& random_;
  Metrics& metrics_;
  const RouterOptions options_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const Live> live_ ABSL_GUARDED_BY(mu_);
  std::vector<InstanceClient*> clients_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> mirroring_{true};
  std::atomic<DemandObserver*> demand_{nullptr};
  std::atomic<AccessLog*> access_log_{nullptr};
};

}  // namespace berth::gateway
