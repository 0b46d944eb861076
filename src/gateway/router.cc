#include "gateway/router.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "auth/secrets.h"
#include "http/upstream_pool.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {

namespace asio = http::asio;
using std::chrono::milliseconds;

// Runtime state of one deployment, shared by every data-plane thread and kept across snapshots
// while the deployment exists.
struct Router::DeploymentRuntime {
  explicit DeploymentRuntime(const Clock& clock) : gate(std::make_shared<AdmissionGate>(clock)) {}
  std::shared_ptr<AdmissionGate> gate;
  std::atomic<uint64_t> arrivals{0};  // requests routed here (DeploymentLoad::arrivals)
  // Requests sent and not yet answered, per instance id (mirrored copies included). Ids
  // outlive readiness: a stopping instance is drained on these counts.
  absl::Mutex counters_mu;
  std::map<int64_t, std::shared_ptr<std::atomic<int>>> in_flight ABSL_GUARDED_BY(counters_mu);
  // Per incarnation: until when (steady nanoseconds) the instance is passed over because a
  // request found it dead. The control plane republishes a dead instance within a tick; the
  // mark expires in case the failure was passing.
  std::map<uint64_t, std::shared_ptr<std::atomic<int64_t>>> down_until ABSL_GUARDED_BY(counters_mu);
  // Mirrored copies bound for this deployment.
  absl::Mutex mirror_mu;
  std::deque<std::unique_ptr<MirrorCopy>> mirror_waiting ABSL_GUARDED_BY(mirror_mu);
  int mirror_in_flight ABSL_GUARDED_BY(mirror_mu) = 0;

  std::shared_ptr<std::atomic<int>> Counter(int64_t id) {
    absl::MutexLock lock(&counters_mu);
    auto& counter = in_flight[id];
    if (!counter) counter = std::make_shared<std::atomic<int>>(0);
    return counter;
  }
  std::shared_ptr<std::atomic<int64_t>> DownMark(uint64_t incarnation) {
    absl::MutexLock lock(&counters_mu);
    auto& mark = down_until[incarnation];
    if (!mark) mark = std::make_shared<std::atomic<int64_t>>(0);
    return mark;
  }
  // Forgets the marks of incarnations no longer published.
  void KeepDownMarks(const std::vector<InstanceAddress>& ready) {
    absl::MutexLock lock(&counters_mu);
    std::erase_if(down_until, [&](const auto& entry) {
      return std::none_of(ready.begin(), ready.end(),
                          [&](const InstanceAddress& a) { return a.incarnation == entry.first; });
    });
  }
};

struct Router::MirrorCopy {
  std::unique_ptr<InstanceCall> call;
  InstanceClient* client = nullptr;
  asio::any_io_executor executor;  // where `client` lives
  SteadyTime enqueued;
};

struct LiveInstance {
  InstanceAddress address;
  std::shared_ptr<std::atomic<int>> in_flight;
  std::shared_ptr<std::atomic<int64_t>> down_until;  // DeploymentRuntime::down_until

  bool Usable(SteadyTime now) const {
    return down_until->load(std::memory_order_relaxed) <= now.time_since_epoch().count();
  }
};

struct Router::LiveDeployment {
  std::string endpoint_key;
  std::string endpoint_name;
  std::shared_ptr<const DeploymentRouting> routing;
  std::shared_ptr<DeploymentRuntime> runtime;
  std::vector<LiveInstance> ready;

  // The admission limits now. With no usable instance and one expected, requests wait for it
  // until `deadline` (their request timeout).
  AdmissionLimits Limits(bool grpc_only, SteadyTime now,
                         std::optional<SteadyTime> deadline = std::nullopt) const {
    int instances = 0;
    for (const auto& i : ready) {
      instances += ((!grpc_only || i.address.serves_grpc()) && i.Usable(now)) ? 1 : 0;
    }
    const core::RequestSettings& s = routing->request_settings;
    AdmissionLimits limits{s.max_concurrent_requests_per_instance, instances,
                           milliseconds(s.max_queue_wait_ms)};
    if (instances == 0 && routing->expects_instances) {
      limits.waiting_for_instance = true;
      if (deadline) {
        limits.max_queue_wait =
            std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(*deadline - now));
      }
    }
    return limits;
  }
};

struct Router::LiveEndpoint {
  std::shared_ptr<const EndpointRouting> routing;
  std::optional<TrafficSplitter> splitter;
  std::map<std::string, std::shared_ptr<const LiveDeployment>> deployments;  // by NameKey

  const LiveDeployment* Find(std::string_view name) const {
    auto it = deployments.find(NameKey(name));
    return it == deployments.end() ? nullptr : it->second.get();
  }
  std::shared_ptr<const LiveDeployment> FindShared(std::string_view name) const {
    auto it = deployments.find(NameKey(name));
    return it == deployments.end() ? nullptr : it->second;
  }
};

struct Router::Live {
  std::shared_ptr<const RoutingSnapshot> snapshot = std::make_shared<RoutingSnapshot>();
  std::map<std::string, std::shared_ptr<const LiveEndpoint>> endpoints;  // by NameKey
};

namespace {

constexpr char kNoCredential[] =
    "missing credential: send 'Authorization: Bearer <key or token>' for the endpoint";

std::string InvalidCredential(std::string_view endpoint) {
  return "no valid key or token for endpoint '" + std::string(endpoint) + "'";
}

// The usable instance with the fewest requests in flight (ties: the first), other than the
// incarnation `avoid` (0: none).
const LiveInstance* LeastLoaded(const std::vector<LiveInstance>& ready, bool grpc_only,
                                SteadyTime now, uint64_t avoid = 0) {
  const LiveInstance* best = nullptr;
  for (const auto& instance : ready) {
    if (grpc_only && !instance.address.serves_grpc()) continue;
    if (!instance.Usable(now) || (avoid != 0 && instance.address.incarnation == avoid)) continue;
    if (best == nullptr || instance.in_flight->load() < best->in_flight->load()) best = &instance;
  }
  return best;
}

// How long an instance a request found dead is passed over, unless the control plane
// republishes it first (it notices a dead process within a tick).
constexpr std::chrono::seconds kDownFor{1};

bool FollowsSplit(CallKind kind) { return kind == CallKind::kScore || kind == CallKind::kInfer; }
bool NeedsOip(CallKind kind) { return kind == CallKind::kInfer || kind == CallKind::kOipOther; }

}  // namespace

Router::Router(const Clock& clock, RandomSource& random, Metrics& metrics, RouterOptions options)
    : clock_(clock),
      random_(random),
      metrics_(metrics),
      options_(options),
      live_(std::make_shared<Live>()) {}

Router::~Router() { StopMirroring(); }

std::shared_ptr<const Router::Live> Router::Current() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

std::shared_ptr<const RoutingSnapshot> Router::Snapshot() const { return Current()->snapshot; }

void Router::Publish(std::shared_ptr<const RoutingSnapshot> snapshot) {
  std::shared_ptr<const Live> previous = Current();
  auto live = std::make_shared<Live>();
  live->snapshot = snapshot;
  std::vector<InstanceAddress> released;
  std::vector<std::pair<std::shared_ptr<AdmissionGate>, AdmissionLimits>> grown;

  for (const auto& [key, endpoint] : snapshot->endpoints) {
    auto before = previous->endpoints.find(key);
    if (before != previous->endpoints.end() && before->second->routing == endpoint) {
      live->endpoints.emplace(key, before->second);  // unchanged: nothing to rebuild
      continue;
    }
    auto e = std::make_shared<LiveEndpoint>();
    e->routing = endpoint;
    auto splitter = TrafficSplitter::Create(endpoint->traffic, endpoint->mirror_traffic);
    if (splitter.ok()) {
      e->splitter = std::move(*splitter);
    } else {
      spdlog::error("endpoint '{}': traffic not applied: {}", endpoint->name,
                    splitter.status().ToString());
    }
    const LiveEndpoint* old = before != previous->endpoints.end() ? before->second.get() : nullptr;
    for (const auto& [dkey, deployment] : endpoint->deployments) {
      auto d = std::make_shared<LiveDeployment>();
      d->endpoint_key = key;
      d->endpoint_name = endpoint->name;
      d->routing = deployment;
      const LiveDeployment* old_d = old ? old->Find(dkey) : nullptr;
      d->runtime = old_d ? old_d->runtime : std::make_shared<DeploymentRuntime>(clock_);
      for (const InstanceAddress& address : deployment->ready) {
        d->ready.push_back(
            {address, d->runtime->Counter(address.id), d->runtime->DownMark(address.incarnation)});
      }
      d->runtime->KeepDownMarks(deployment->ready);
      if (old_d) {
        for (const LiveInstance& i : old_d->ready) {
          if (std::find(deployment->ready.begin(), deployment->ready.end(), i.address) ==
              deployment->ready.end()) {
            released.push_back(i.address);
          }
        }
        AdmissionLimits limits = d->Limits(false, clock_.Now());
        if (limits.running_limit() > old_d->Limits(false, clock_.Now()).running_limit()) {
          grown.emplace_back(d->runtime->gate, limits);
        }
      }
      e->deployments.emplace(dkey, std::move(d));
    }
    if (old) {
      for (const auto& [dkey, d] : old->deployments) {
        if (e->deployments.count(dkey)) continue;
        for (const LiveInstance& i : d->ready) released.push_back(i.address);
      }
    }
    live->endpoints.emplace(key, std::move(e));
  }
  for (const auto& [key, e] : previous->endpoints) {
    if (live->endpoints.count(key)) continue;
    for (const auto& [dkey, d] : e->deployments) {
      for (const LiveInstance& i : d->ready) released.push_back(i.address);
    }
  }

  std::vector<InstanceClient*> clients;
  {
    absl::MutexLock lock(&mu_);
    live_ = live;
    clients = clients_;
  }
  for (auto& [gate, limits] : grown) gate->Rebalance(limits);
  for (const InstanceAddress& address : released) {
    for (InstanceClient* client : clients) client->Release(address);
  }
}

DeploymentLoad Router::Load(std::string_view endpoint, std::string_view deployment) const {
  std::shared_ptr<const Live> live = Current();
  auto e = live->endpoints.find(NameKey(endpoint));
  if (e == live->endpoints.end()) return {};
  const LiveDeployment* d = e->second->Find(deployment);
  if (d == nullptr) return {};
  return {d->runtime->gate->running(), d->runtime->gate->waiting(),
          d->runtime->arrivals.load(std::memory_order_relaxed)};
}

void Router::SetDemandObserver(DemandObserver* observer) { demand_ = observer; }

std::shared_ptr<const Router::LiveDeployment> Router::Newest(
    const std::shared_ptr<const LiveDeployment>& deployment) const {
  std::shared_ptr<const Live> live = Current();
  auto e = live->endpoints.find(deployment->endpoint_key);
  if (e == live->endpoints.end()) return deployment;
  auto d = e->second->FindShared(deployment->routing->name);
  return d && d->runtime == deployment->runtime ? d : deployment;
}

void Router::MarkDown(const std::shared_ptr<const LiveDeployment>& deployment,
                      const LiveInstance& instance, const asio::any_io_executor& executor) {
  instance.down_until->store((clock_.Now() + kDownFor).time_since_epoch().count(),
                             std::memory_order_relaxed);
  // Requests that wait because of the mark are admitted again when it expires, unless a
  // publish (the instance restarted) admits them first.
  auto timer = std::make_shared<asio::steady_timer>(executor);
  timer->expires_after(kDownFor + milliseconds(1));
  timer->async_wait([this, timer, deployment](const boost::system::error_code&) {
    std::shared_ptr<const LiveDeployment> now = Newest(deployment);
    now->runtime->gate->Rebalance(now->Limits(false, clock_.Now()));
  });
}

int Router::InFlight(std::string_view endpoint, std::string_view deployment,
                     int64_t instance_id) const {
  std::shared_ptr<const Live> live = Current();
  auto e = live->endpoints.find(NameKey(endpoint));
  if (e == live->endpoints.end()) return 0;
  const LiveDeployment* d = e->second->Find(deployment);
  if (d == nullptr) return 0;
  absl::MutexLock lock(&d->runtime->counters_mu);
  auto it = d->runtime->in_flight.find(instance_id);
  return it == d->runtime->in_flight.end() ? 0 : it->second->load();
}

absl::StatusOr<std::shared_ptr<const Router::LiveEndpoint>> Router::Authenticate(
    const Live& live, std::string_view name, const std::optional<std::string>& authorization,
    bool private_listener) const {
  auto endpoint = CheckCredential(live, name, authorization);
  if (endpoint.ok() && !private_listener && !(*endpoint)->routing->public_network_access) {
    return absl::PermissionDeniedError("public network access to endpoint '" +
                                       (*endpoint)->routing->name +
                                       "' is disabled; send requests to berthd's private listener");
  }
  return endpoint;
}

absl::StatusOr<std::shared_ptr<const Router::LiveEndpoint>> Router::CheckCredential(
    const Live& live, std::string_view name,
    const std::optional<std::string>& authorization) const {
  auto it = live.endpoints.find(NameKey(name));
  const LiveEndpoint* endpoint = it == live.endpoints.end() ? nullptr : it->second.get();
  if (!options_.require_credentials) {
    if (endpoint == nullptr) {
      return absl::NotFoundError("endpoint '" + std::string(name) + "' not found");
    }
    return it->second;
  }
  if (!authorization) return absl::UnauthenticatedError(kNoCredential);
  if (!absl::StartsWithIgnoreCase(*authorization, "bearer ")) {
    return absl::UnauthenticatedError("the Authorization header must be 'Bearer <key or token>'");
  }
  // An unknown endpoint gets the answer a wrong key gets, so names cannot be probed.
  if (endpoint == nullptr) return absl::UnauthenticatedError(InvalidCredential(name));
  const EndpointRouting& routing = *endpoint->routing;
  std::string credential = authorization->substr(7);
  if (routing.auth_mode == core::AuthMode::kKey) {
    bool primary = auth::ConstantTimeEquals(credential, routing.primary_key);
    bool secondary = auth::ConstantTimeEquals(credential, routing.secondary_key);
    if (primary || secondary) return it->second;
    return absl::UnauthenticatedError(InvalidCredential(name));
  }
  absl::Status token =
      auth::VerifyToken(credential, routing.name, routing.token_secret, clock_.WallNow());
  if (!token.ok())
    return absl::UnauthenticatedError(InvalidCredential(name) + ": " +
                                      std::string(token.message()));
  return it->second;
}

absl::Status Router::CheckAccess(std::string_view endpoint,
                                 const std::optional<std::string>& authorization,
                                 bool private_listener) const {
  return Authenticate(*Current(), endpoint, authorization, private_listener).status();
}

http::Awaitable<RouteResult> Router::Route(const RouteRequest& request, InstanceCall& call,
                                           InstanceClient& client) {
  const SteadyTime arrival = clock_.Now();
  std::shared_ptr<const Live> live = Current();
  RouteResult result;
  auto fail = [&](Outcome outcome, const std::string& message) {
    result.outcome = outcome;
    result.message = message;
    return result;
  };

  auto authenticated =
      Authenticate(*live, request.endpoint, request.authorization, request.private_listener);
  if (!authenticated.ok()) {
    const absl::Status& refused = authenticated.status();
    co_return fail(absl::IsNotFound(refused)           ? Outcome::kNotFound
                   : absl::IsPermissionDenied(refused) ? Outcome::kForbidden
                                                       : Outcome::kUnauthenticated,
                   std::string(refused.message()));
  }
  const LiveEndpoint& endpoint = **authenticated;
  result.endpoint = endpoint.routing->name;

  // The deployment: named by the header, else by the split (or the largest share).
  std::shared_ptr<const LiveDeployment> deployment;
  bool by_rule = false;
  if (request.deployment) {
    deployment = endpoint.FindShared(*request.deployment);
    if (!deployment) {
      co_return fail(Outcome::kNotFound, "deployment '" + *request.deployment +
                                             "' not found in endpoint '" + result.endpoint +
                                             "' (named by the azureml-model-deployment header)");
    }
  } else {
    std::optional<std::string> picked;
    if (endpoint.splitter) {
      picked = FollowsSplit(request.kind) ? endpoint.splitter->Pick(random_.Next())
                                          : endpoint.splitter->Largest();
    }
    if (!picked) {
      co_return fail(Outcome::kNotFound,
                     "endpoint '" + result.endpoint +
                         "' has no deployment with positive traffic; set traffic or name a "
                         "deployment in the azureml-model-deployment header");
    }
    deployment = endpoint.FindShared(*picked);
    if (!deployment) {
      co_return fail(Outcome::kUnavailable, "deployment '" + *picked + "' is not serving yet");
    }
    by_rule = true;
  }
  const DeploymentRouting& routing = *deployment->routing;
  result.deployment = routing.name;
  if (NeedsOip(request.kind) && !routing.speaks_oip) {
    co_return fail(Outcome::kNotFound,
                   "deployment '" + routing.name +
                       "' does not serve the Open Inference Protocol (/v2 routes are served by "
                       "triton_model and MLflow XGBoost deployments)");
  }
  call.Bind(routing);

  if (by_rule && FollowsSplit(request.kind) && endpoint.splitter) {
    if (auto mirror_name = endpoint.splitter->Mirror(random_.Next())) {
      auto target = endpoint.FindShared(*mirror_name);
      if (target && (!NeedsOip(request.kind) || target->routing->speaks_oip)) {
        Mirror(endpoint, std::move(target), call, client);
      } else {
        metrics_.RecordMirror(result.endpoint, *mirror_name, "dropped");
      }
    }
  }

  const bool grpc_only = request.needs_grpc;
  const int timeout_ms = routing.request_settings.request_timeout_ms;
  // The deadline counts from arrival: waiting for admission or for an instance included.
  const SteadyTime deadline = arrival + milliseconds(timeout_ms);
  deployment->runtime->arrivals.fetch_add(1, std::memory_order_relaxed);
  AdmissionGate& gate = *deployment->runtime->gate;
  bool admitted = false;
  uint64_t failed_incarnation = 0;  // the instance the first try found dead
  absl::Status sent;
  for (;;) {
    if (!admitted) {
      AdmissionLimits limits = deployment->Limits(grpc_only, clock_.Now(), deadline);
      if (limits.ready_instances == 0 && !limits.waiting_for_instance) {
        co_return fail(Outcome::kUnavailable,
                       "deployment '" + routing.name + "' has no ready instance" +
                           (grpc_only ? " serving gRPC (berth-worker models)" : ""));
      }
      if (limits.waiting_for_instance) {
        if (DemandObserver* demand = demand_.load())
          demand->OnDemand(result.endpoint, routing.name);
      }
      // While waiting for an instance, the limits are read again under the gate's lock, so an
      // instance published meanwhile counts. (Elsewhere a growth missed here only costs a
      // queued request the wait until the next Leave.)
      absl::Status entered;
      if (limits.waiting_for_instance) {
        entered = co_await gate.Enter([this, &deployment, grpc_only, deadline] {
          return Newest(deployment)->Limits(grpc_only, clock_.Now(), deadline);
        });
      } else {
        entered = co_await gate.Enter(limits);
      }
      if (!entered.ok()) {
        co_return fail(absl::IsUnavailable(entered) ? Outcome::kUnavailable : Outcome::kRejected,
                       absl::IsUnavailable(entered)
                           ? "deployment '" + routing.name + "': " + std::string(entered.message())
                           : std::string(entered.message()));
      }
      admitted = true;
      // Instances may have come (or gone) while the request waited.
      deployment = Newest(deployment);
    }
    const SteadyTime now = clock_.Now();
    if (now >= deadline) {
      gate.Leave(deployment->Limits(false, now));
      co_return fail(Outcome::kTimedOut, "deployment '" + routing.name +
                                             "' did not answer within request_timeout_ms (" +
                                             std::to_string(timeout_ms) + " ms)");
    }
    const LiveInstance* instance =
        LeastLoaded(deployment->ready, grpc_only, now, failed_incarnation);
    if (instance == nullptr) {
      // Every instance went away meanwhile, or the only one just failed: wait for one (or fail
      // at once when none is expected) through admission again.
      gate.Leave(deployment->Limits(false, now));
      admitted = false;
      deployment = Newest(deployment);
      // Once admitted again, any usable instance will do: the one that failed counts again
      // when its mark expired without a restart (it kept passing readiness).
      failed_incarnation = 0;
      continue;
    }
    std::shared_ptr<std::atomic<int>> in_flight = instance->in_flight;
    const LiveInstance chosen = *instance;
    result.instance = chosen.address.id;
    ++result.attempts;
    in_flight->fetch_add(1);
    metrics_.AddInFlight(result.endpoint, routing.name, 1);
    result.queue_time = (now - arrival) - result.model_time;
    sent = co_await client.Send(chosen.address, call, deadline);
    result.model_time += clock_.Now() - now;
    in_flight->fetch_sub(1);
    metrics_.AddInFlight(result.endpoint, routing.name, -1);
    if (sent.ok()) break;
    // The instance could not be reached, or died before any byte of an answer: pass it over,
    // and try once more elsewhere (a request that may have run only when the deployment
    // allows running it twice).
    const bool unreached = absl::IsUnavailable(sent);
    const bool no_answer = http::IsNoAnswer(sent);
    if (unreached || no_answer) MarkDown(deployment, chosen, client.Executor());
    const bool retry = result.attempts == 1 &&
                       (unreached || (no_answer && routing.retry_on_instance_failure)) &&
                       clock_.Now() < deadline;
    if (!retry) break;
    spdlog::info(
        "endpoint '{}', deployment '{}': instance {} failed ({}); sending the "
        "request to another instance",
        result.endpoint, routing.name, chosen.address.id, std::string(sent.message()));
    failed_incarnation = chosen.address.incarnation;
  }
  gate.Leave(deployment->Limits(false, clock_.Now()));

  if (sent.ok()) co_return result;
  switch (sent.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      co_return fail(Outcome::kTimedOut, "deployment '" + routing.name +
                                             "' did not answer within request_timeout_ms (" +
                                             std::to_string(timeout_ms) + " ms)");
    case absl::StatusCode::kResourceExhausted:
      co_return fail(Outcome::kResponseTooLarge,
                     "the answer of deployment '" + routing.name +
                         "' is too large: " + std::string(sent.message()));
    case absl::StatusCode::kCancelled:
      co_return fail(Outcome::kCancelled, "the client cancelled the request");
    default:
      co_return fail(Outcome::kUpstreamFailed, "instance of deployment '" + routing.name +
                                                   "' failed: " + std::string(sent.message()));
  }
}

void Router::Record(const RouteResult& result, const RequestSummary& summary) {
  using Seconds = std::chrono::duration<double>;
  const SteadyTime now = clock_.Now();
  const double seconds = Seconds(now - summary.arrival).count();
  // Labels come only from an endpoint the caller proved it may use: unknown or unauthenticated
  // names never create a series.
  const std::string_view endpoint = result.endpoint;
  const std::string_view deployment = endpoint.empty() ? "" : std::string_view(result.deployment);
  // Queue time once a deployment was chosen (admission, a starting instance); model time once
  // an instance was sent to.
  const bool chosen = !deployment.empty();
  const bool sent = result.attempts > 0;
  RequestSample sample{.endpoint = endpoint,
                       .deployment = deployment,
                       .status = summary.status,
                       .seconds = seconds,
                       .attempts = result.attempts};
  if (chosen) sample.queue_seconds = Seconds(result.queue_time).count();
  if (sent) sample.model_seconds = Seconds(result.model_time).count();
  metrics_.RecordRequest(sample);

  AccessLog* log = access_log_.load(std::memory_order_acquire);
  if (log == nullptr) return;
  using Millis = std::chrono::duration<double, std::milli>;
  AccessLogEntry entry;
  entry.time =
      clock_.WallNow() - std::chrono::duration_cast<SystemTime::duration>(now - summary.arrival);
  entry.request_id = summary.request_id;
  entry.protocol = summary.protocol;
  entry.method = summary.method;
  entry.path = summary.path;
  entry.endpoint = std::string(endpoint);
  entry.deployment = std::string(deployment);
  entry.instance = endpoint.empty() ? 0 : result.instance;
  entry.status = summary.status;
  entry.queue_ms = chosen ? Millis(result.queue_time).count() : 0;
  entry.model_ms = sent ? Millis(result.model_time).count() : 0;
  entry.total_ms = Millis(now - summary.arrival).count();
  entry.attempts = result.attempts;
  entry.bytes_in = summary.bytes_in;
  entry.bytes_out = summary.bytes_out;
  log->Write(entry);
}

void Router::SetAccessLog(AccessLog* log) { access_log_.store(log, std::memory_order_release); }

void Router::Mirror(const LiveEndpoint& endpoint, std::shared_ptr<const LiveDeployment> target,
                    const InstanceCall& call, InstanceClient& client) {
  const std::string& ename = endpoint.routing->name;
  const std::string& dname = target->routing->name;
  if (!mirroring_ || target->ready.empty()) {
    metrics_.RecordMirror(ename, dname, "dropped");
    return;
  }
  {
    absl::MutexLock lock(&target->runtime->mirror_mu);
    if (target->runtime->mirror_waiting.size() >= options_.mirror_queue_capacity) {
      metrics_.RecordMirror(ename, dname, "dropped");
      return;
    }
  }
  // The copy is sent later by the client of this thread, on this thread.
  auto copy = std::make_unique<MirrorCopy>();
  copy->client = &client;
  copy->executor = client.Executor();
  copy->call = call.CloneForMirror();
  copy->call->Bind(*target->routing);
  copy->enqueued = clock_.Now();
  {
    absl::MutexLock lock(&target->runtime->mirror_mu);
    target->runtime->mirror_waiting.push_back(std::move(copy));
  }
  PumpMirror(std::move(target));
}

void Router::PumpMirror(std::shared_ptr<const LiveDeployment> target) {
  DeploymentRuntime& runtime = *target->runtime;
  const milliseconds timeout(target->routing->request_settings.request_timeout_ms);
  for (;;) {
    std::unique_ptr<MirrorCopy> copy;
    {
      absl::MutexLock lock(&runtime.mirror_mu);
      const int concurrency = std::max(1, target->Limits(false, clock_.Now()).running_limit());
      if (runtime.mirror_waiting.empty() || runtime.mirror_in_flight >= concurrency) return;
      copy = std::move(runtime.mirror_waiting.front());
      runtime.mirror_waiting.pop_front();
      // A copy that would arrive later than a request may take is worth nothing: drop it.
      if (!mirroring_ || clock_.Now() - copy->enqueued >= timeout) {
        metrics_.RecordMirror(target->endpoint_name, target->routing->name, "expired");
        continue;
      }
      ++runtime.mirror_in_flight;
    }
    // The newest routes: the instances may have changed while the copy waited.
    std::shared_ptr<const LiveDeployment> now = target;
    {
      std::shared_ptr<const Live> live = Current();
      auto e = live->endpoints.find(target->endpoint_key);
      if (e != live->endpoints.end()) {
        if (auto d = e->second->FindShared(target->routing->name)) now = d;
      }
    }
    const LiveInstance* instance = LeastLoaded(now->ready, false, clock_.Now());
    if (instance == nullptr) {
      metrics_.RecordMirror(target->endpoint_name, target->routing->name, "dropped");
      absl::MutexLock lock(&runtime.mirror_mu);
      --runtime.mirror_in_flight;
      continue;
    }
    InstanceAddress address = instance->address;
    std::shared_ptr<std::atomic<int>> in_flight = instance->in_flight;
    SteadyTime deadline = copy->enqueued + timeout;
    asio::any_io_executor executor = copy->executor;
    std::shared_ptr<MirrorCopy> owned(std::move(copy));
    asio::co_spawn(
        executor,
        [this, target, owned, address, in_flight, deadline]() -> http::Awaitable<void> {
          in_flight->fetch_add(1);
          absl::Status sent = co_await owned->client->Send(address, *owned->call, deadline);
          in_flight->fetch_sub(1);
          metrics_.RecordMirror(target->endpoint_name, target->routing->name,
                                sent.ok() ? "sent" : "failed");
          {
            absl::MutexLock lock(&target->runtime->mirror_mu);
            --target->runtime->mirror_in_flight;
          }
          PumpMirror(target);
        },
        asio::detached);
  }
}

void Router::StopMirroring() {
  mirroring_ = false;
  std::shared_ptr<const Live> live = Current();
  for (const auto& [key, e] : live->endpoints) {
    for (const auto& [dkey, d] : e->deployments) {
      absl::MutexLock lock(&d->runtime->mirror_mu);
      d->runtime->mirror_waiting.clear();
    }
  }
}

void Router::AddClient(InstanceClient* client) {
  absl::MutexLock lock(&mu_);
  clients_.push_back(client);
}

void Router::RemoveClient(InstanceClient* client) {
  absl::MutexLock lock(&mu_);
  clients_.erase(std::remove(clients_.begin(), clients_.end(), client), clients_.end());
}

std::shared_ptr<AdmissionGate> Router::GateForTest(std::string_view endpoint,
                                                   std::string_view deployment) const {
  std::shared_ptr<const Live> live = Current();
  auto e = live->endpoints.find(NameKey(endpoint));
  if (e == live->endpoints.end()) return nullptr;
  const LiveDeployment* d = e->second->Find(deployment);
  return d ? d->runtime->gate : nullptr;
}

std::pair<size_t, int> Router::MirrorQueueForTest(std::string_view endpoint,
                                                  std::string_view deployment) const {
  std::shared_ptr<const Live> live = Current();
  auto e = live->endpoints.find(NameKey(endpoint));
  if (e == live->endpoints.end()) return {0, 0};
  const LiveDeployment* d = e->second->Find(deployment);
  if (d == nullptr) return {0, 0};
  absl::MutexLock lock(&d->runtime->mirror_mu);
  return {d->runtime->mirror_waiting.size(), d->runtime->mirror_in_flight};
}

}  // namespace berth::gateway
