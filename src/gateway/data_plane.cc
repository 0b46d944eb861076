#include "gateway/data_plane.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "auth/secrets.h"
#include "http/errors.h"
#include "http/server.h"
#include "spdlog/spdlog.h"

namespace berth::gateway {

namespace asio = http::asio;
namespace bhttp = http::bhttp;
using http::Awaitable;
using http::ErrorResponse;
using http::Request;
using http::Response;

namespace {

constexpr std::string_view kDeploymentHeader = "azureml-model-deployment";

bool IsHopByHop(std::string_view name) {
  static const char* kHeaders[] = {"connection",
                                   "keep-alive",
                                   "proxy-authenticate",
                                   "proxy-authorization",
                                   "te",
                                   "trailer",
                                   "transfer-encoding",
                                   "upgrade",
                                   "content-length",
                                   "host"};
  for (const char* h : kHeaders) {
    if (absl::EqualsIgnoreCase(std::string(name), h)) return true;
  }
  return false;
}

double SecondsSince(const Clock& clock, SteadyTime start) {
  return std::chrono::duration<double>(clock.Now() - start).count();
}

// Errors the gateway makes, in the shape of the route's protocol.
Response ErrorFor(const Request& req, Wire wire, const absl::Status& status) {
  return wire == Wire::kOip ? http::OipErrorResponse(req, status) : ErrorResponse(req, status);
}
Response ErrorFor(const Request& req, Wire wire, bhttp::status http_status, std::string_view code,
                  std::string_view message) {
  return wire == Wire::kOip ? http::OipErrorResponse(req, http_status, message)
                            : ErrorResponse(req, http_status, code, message);
}

}  // namespace

DataPlane::DataPlane(const Clock& clock, RandomSource& random, Metrics& metrics,
                     asio::any_io_executor pool_executor, DataPlaneOptions options)
    : clock_(clock),
      random_(random),
      metrics_(metrics),
      pool_executor_(std::move(pool_executor)),
      options_(options),
      table_(std::make_shared<RoutingTable>()) {}

void DataPlane::Publish(std::shared_ptr<const RoutingTable> table) {
  absl::MutexLock lock(&mu_);
  table_ = std::move(table);
}

void DataPlane::Publish(std::shared_ptr<const RoutingSnapshot> snapshot) {
  absl::MutexLock publish_lock(&publish_mu_);
  auto table = std::make_shared<RoutingTable>();
  std::map<std::string, DeploymentRuntime> runtimes;
  std::map<InstanceKey, std::shared_ptr<std::atomic<int>>> outstanding;
  {
    absl::MutexLock lock(&mu_);
    outstanding = outstanding_;
  }
  for (const auto& [endpoint_key, e] : snapshot->endpoints) {
    auto route = std::make_shared<EndpointRoute>();
    route->name = e->name;
    route->auth_mode = e->auth_mode;
    route->primary_key = e->primary_key;
    route->secondary_key = e->secondary_key;
    route->token_secret = e->token_secret;
    if (auto splitter = TrafficSplitter::Create(e->traffic, e->mirror_traffic); splitter.ok()) {
      route->splitter = std::move(*splitter);
    }
    for (const auto& [deployment_key, d] : e->deployments) {
      // Reuse what this deployment had, create what it lacks.
      std::string runtime_key = endpoint_key + "/" + deployment_key;
      DeploymentRuntime& runtime = runtimes[runtime_key];
      if (auto it = runtimes_.find(runtime_key); it != runtimes_.end()) {
        runtime.gate = it->second.gate;
        runtime.mirror_queue = it->second.mirror_queue;
      }
      if (!runtime.gate) runtime.gate = std::make_shared<AdmissionGate>(clock_);
      if (!runtime.mirror_queue) runtime.mirror_queue = std::make_shared<MirrorQueue>();
      auto dr = std::make_shared<DeploymentRoute>();
      dr->name = d->name;
      dr->request_settings = d->request_settings;
      dr->routes = d->routes;
      dr->gate = runtime.gate;
      dr->mirror_queue = runtime.mirror_queue;
      for (const InstanceAddress& a : d->ready) {
        std::shared_ptr<http::UpstreamPool> pool;
        if (auto it = runtimes_.find(runtime_key); it != runtimes_.end()) {
          if (auto p = it->second.pools.find(a.id);
              p != it->second.pools.end() && p->second.first == a.incarnation) {
            pool = p->second.second;
          }
        }
        // A new incarnation listens on a new port: new connections.
        if (!pool) pool = std::make_shared<http::UpstreamPool>(pool_executor_, a.host, a.port);
        runtime.pools[a.id] = {a.incarnation, pool};
        auto& counter = outstanding[{endpoint_key, deployment_key, a.id}];
        if (!counter) counter = std::make_shared<std::atomic<int>>(0);
        dr->ready.push_back({a.id, a.port, a.grpc_port, pool, counter});
      }
      runtime.gate->Rebalance(dr->limits());
      route->deployments[dr->name] = std::move(dr);
    }
    (*table)[e->name] = std::move(route);
  }
  // Counters of instances that left stay while requests to them are in flight (draining).
  std::set<InstanceKey> current;
  for (const auto& [runtime_key, runtime] : runtimes) {
    auto slash = runtime_key.find('/');
    for (const auto& [id, pool] : runtime.pools) {
      current.insert({runtime_key.substr(0, slash), runtime_key.substr(slash + 1), id});
    }
  }
  for (auto it = outstanding.begin(); it != outstanding.end();) {
    if (!current.count(it->first) && it->second->load() == 0) {
      it = outstanding.erase(it);
    } else {
      ++it;
    }
  }
  // Pools of instances that left close their idle connections on the pools' own executor.
  std::vector<std::shared_ptr<http::UpstreamPool>> dropped;
  for (auto& [runtime_key, runtime] : runtimes_) {
    auto now = runtimes.find(runtime_key);
    for (auto& [id, pool] : runtime.pools) {
      bool kept = now != runtimes.end() && now->second.pools.count(id) &&
                  now->second.pools.at(id).second == pool.second;
      if (!kept) dropped.push_back(std::move(pool.second));
    }
  }
  if (!dropped.empty()) {
    asio::post(pool_executor_, [dropped = std::move(dropped)]() mutable {
      for (auto& pool : dropped) {
        if (pool.use_count() == 1) pool->CloseIdle();
      }
    });
  }
  runtimes_ = std::move(runtimes);
  absl::MutexLock lock(&mu_);
  // Counters created by no one else meanwhile: only Publish() adds them.
  outstanding_ = std::move(outstanding);
  table_ = std::move(table);
}

int DataPlane::InFlight(std::string_view endpoint, std::string_view deployment,
                        int64_t instance_id) const {
  absl::MutexLock lock(&mu_);
  auto it = outstanding_.find({NameKey(endpoint), NameKey(deployment), instance_id});
  return it == outstanding_.end() ? 0 : it->second->load();
}

std::shared_ptr<const RoutingTable> DataPlane::Table() const {
  absl::MutexLock lock(&mu_);
  return table_;
}

bool DataPlane::Matches(std::string_view target) { return target.starts_with("/endpoints/"); }

const InstanceTarget& LeastLoaded(const std::vector<InstanceTarget>& ready) {
  const InstanceTarget* best = &ready.front();
  for (const auto& instance : ready) {
    if (instance.outstanding->load() < best->outstanding->load()) best = &instance;
  }
  return *best;
}

Request UpstreamRequest(const Request& req, std::string_view path, std::string_view query,
                        int port) {
  std::string target(path);
  if (!query.empty()) target += "?" + std::string(query);
  Request out{req.method(), target, 11};
  for (const auto& field : req) {
    std::string name(field.name_string());
    if (IsHopByHop(name) || absl::EqualsIgnoreCase(name, "authorization")) continue;
    out.insert(field.name_string(), field.value());
  }
  out.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  out.body() = req.body();
  return out;
}

absl::Status CheckCredential(const std::optional<std::string>& authorization,
                             const EndpointRoute& endpoint, SystemTime now) {
  if (!authorization) {
    return absl::UnauthenticatedError(
        "missing credential: send 'Authorization: Bearer <key or token>'");
  }
  const std::string& value = *authorization;
  if (!absl::StartsWithIgnoreCase(value, "bearer ")) {
    return absl::UnauthenticatedError("the Authorization header must be 'Bearer <key or token>'");
  }
  std::string credential = value.substr(7);
  if (endpoint.auth_mode == core::AuthMode::kKey) {
    bool primary = auth::ConstantTimeEquals(credential, endpoint.primary_key);
    bool secondary = auth::ConstantTimeEquals(credential, endpoint.secondary_key);
    if (primary || secondary) return absl::OkStatus();
    return absl::UnauthenticatedError("invalid key for endpoint '" + endpoint.name + "'");
  }
  return auth::VerifyToken(credential, endpoint.name, endpoint.token_secret, now);
}

absl::StatusOr<std::shared_ptr<const DeploymentRoute>> PickDeployment(
    const EndpointRoute& endpoint, const std::optional<std::string>& named, bool follow_split,
    uint64_t split_pick, bool* by_rule) {
  *by_rule = false;
  if (named) {
    auto it = endpoint.deployments.find(*named);
    if (it == endpoint.deployments.end()) {
      return absl::NotFoundError("deployment '" + *named + "' not found in endpoint '" +
                                 endpoint.name +
                                 "' (named by the azureml-model-deployment header)");
    }
    return it->second;
  }
  std::optional<std::string> picked;
  if (endpoint.splitter) {
    picked = follow_split ? endpoint.splitter->Pick(split_pick) : endpoint.splitter->Largest();
  }
  if (!picked) {
    return absl::NotFoundError("endpoint '" + endpoint.name +
                               "' has no deployment with positive traffic; set traffic or "
                               "name a deployment in the azureml-model-deployment header");
  }
  auto it = endpoint.deployments.find(*picked);
  if (it == endpoint.deployments.end()) {
    return absl::UnavailableError("deployment '" + *picked + "' is not serving yet");
  }
  *by_rule = true;
  return it->second;
}

Awaitable<Response> DataPlane::Handle(Request& req) {
  SteadyTime start = clock_.Now();
  std::string_view target = req.target();
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  std::string_view rest = target.substr(std::string_view("/endpoints/").size());
  auto slash = rest.find('/');
  std::string name(rest.substr(0, slash));
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  bool is_score = action == "score";
  bool is_swagger = action == "swagger.json";
  // The Open Inference Protocol's routes, passed to berth-worker instances as /v2/...
  bool is_oip = action == "v2" || action.starts_with("v2/");
  bool is_infer = is_score || (is_oip && action.ends_with("/infer"));
  const Wire wire = is_oip ? Wire::kOip : Wire::kBerth;

  auto table = Table();
  auto endpoint_it = table->find(name);
  auto reject = [&](Response res) {
    metrics_.RecordRequest(name, "", res.result_int(), SecondsSince(clock_, start));
    return res;
  };
  if ((!is_score && !is_swagger && !is_oip) || endpoint_it == table->end()) {
    co_return reject(ErrorFor(
        req, wire,
        absl::NotFoundError(endpoint_it == table->end()
                                ? "endpoint '" + name + "' not found"
                                : "no such route '" + std::string(target) +
                                      "'; use /endpoints/<name>/score, /swagger.json or /v2/...")));
  }
  const EndpointRoute& endpoint = *endpoint_it->second;
  std::optional<std::string> authorization;
  if (auto it = req.find(bhttp::field::authorization); it != req.end()) {
    authorization = std::string(it->value());
  }
  if (absl::Status auth = CheckCredential(authorization, endpoint, clock_.WallNow()); !auth.ok()) {
    Response res = ErrorFor(req, wire, auth);
    res.set(bhttp::field::www_authenticate, "Bearer");
    co_return reject(std::move(res));
  }
  if (is_score && req.method() != bhttp::verb::post && req.method() != bhttp::verb::get) {
    co_return reject(ErrorResponse(req, bhttp::status::method_not_allowed, "MethodNotAllowed",
                                   "use POST (or GET) on /score"));
  }

  std::optional<std::string> named;
  if (auto header = req.find(kDeploymentHeader); header != req.end()) {
    named = std::string(header->value());
  }
  bool rule_routed = false;
  auto picked =
      PickDeployment(endpoint, named, /*follow_split=*/is_infer, random_.Next(), &rule_routed);
  if (!picked.ok()) co_return reject(ErrorFor(req, wire, picked.status()));
  std::shared_ptr<const DeploymentRoute> deployment = *std::move(picked);

  if (is_swagger) co_return co_await Swagger(req, endpoint, deployment, query);

  // The instance's path: the deployment's scoring route, or the /v2 route as asked.
  const std::string path = is_oip ? "/" + std::string(action) : deployment->routes.scoring_path;
  if (rule_routed && is_infer && endpoint.splitter) {
    if (auto mirror_name = endpoint.splitter->Mirror(random_.Next())) {
      auto it = endpoint.deployments.find(*mirror_name);
      if (it != endpoint.deployments.end()) {
        StartMirror(req, endpoint.name, it->second, is_oip ? path : it->second->routes.scoring_path,
                    query);
      } else {
        metrics_.RecordMirror(endpoint.name, *mirror_name, "dropped");
      }
    }
  }
  co_return co_await Forward(req, endpoint, deployment, path, query, wire);
}

Awaitable<Response> DataPlane::Forward(Request& req, const EndpointRoute& endpoint,
                                       std::shared_ptr<const DeploymentRoute> deployment,
                                       std::string path, std::string_view query, Wire wire) {
  SteadyTime start = clock_.Now();
  const std::string& dname = deployment->name;
  auto finish = [&](Response res) {
    res.set(kDeploymentHeader, dname);
    metrics_.RecordRequest(endpoint.name, dname, res.result_int(), SecondsSince(clock_, start));
    return res;
  };
  if (deployment->ready.empty()) {
    co_return finish(ErrorFor(
        req, wire, absl::UnavailableError("deployment '" + dname + "' has no ready instance")));
  }
  AdmissionLimits limits = deployment->limits();
  if (absl::Status admitted = co_await deployment->gate->Enter(limits); !admitted.ok()) {
    Response res = ErrorFor(req, wire, admitted);
    res.set(bhttp::field::retry_after, "1");
    co_return finish(std::move(res));
  }
  // Admission may have waited; the deadline counts from arrival at the gateway.
  SteadyTime deadline =
      start + std::chrono::milliseconds(deployment->request_settings.request_timeout_ms);
  const InstanceTarget& instance = LeastLoaded(deployment->ready);
  std::shared_ptr<http::UpstreamPool> pool = instance.pool;
  std::shared_ptr<std::atomic<int>> outstanding = instance.outstanding;
  outstanding->fetch_add(1);
  metrics_.AddInFlight(endpoint.name, dname, 1);
  auto answer = co_await pool->Send(UpstreamRequest(req, path, query, pool->port()), deadline);
  outstanding->fetch_sub(1);
  metrics_.AddInFlight(endpoint.name, dname, -1);
  deployment->gate->Leave(deployment->limits());

  if (!answer.ok()) {
    const absl::Status& s = answer.status();
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      co_return finish(
          ErrorFor(req, wire, bhttp::status::request_timeout, "RequestTimeout",
                   "deployment '" + dname + "' did not answer within request_timeout_ms (" +
                       std::to_string(deployment->request_settings.request_timeout_ms) + " ms)"));
    }
    co_return finish(
        ErrorFor(req, wire, bhttp::status::bad_gateway, "BadGateway",
                 "instance of deployment '" + dname + "' failed: " + std::string(s.message())));
  }
  Response& model = *answer;
  int model_status = model.result_int();
  // /score follows Azure's rule (a model's non-2xx becomes 424); /v2 passes statuses through.
  bool ok = wire == Wire::kOip || (model_status >= 200 && model_status < 300);
  Response res{ok ? model.result() : bhttp::status::failed_dependency, req.version()};
  for (const auto& field : model) {
    if (IsHopByHop(std::string(field.name_string()))) continue;
    res.insert(field.name_string(), field.value());
  }
  if (!ok) {
    res.set("ms-azureml-model-error-statuscode", std::to_string(model_status));
    std::string reason(model.reason());
    if (reason.empty()) reason = std::string(bhttp::obsolete_reason(model.result()));
    res.set("ms-azureml-model-error-reason", reason);
  }
  res.body() = std::move(model.body());
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  co_return finish(std::move(res));
}

Awaitable<Response> DataPlane::Swagger(Request& req, const EndpointRoute& endpoint,
                                       std::shared_ptr<const DeploymentRoute> deployment,
                                       std::string_view query) {
  if (deployment->ready.empty()) {
    co_return ErrorResponse(
        req, absl::UnavailableError("deployment '" + deployment->name + "' has no ready instance"));
  }
  const InstanceTarget& instance = LeastLoaded(deployment->ready);
  std::shared_ptr<http::UpstreamPool> pool = instance.pool;
  Request up = UpstreamRequest(req, deployment->routes.swagger_path, query, pool->port());
  up.method(bhttp::verb::get);
  up.body().clear();
  auto answer = co_await pool->Send(
      std::move(up),
      clock_.Now() + std::chrono::milliseconds(deployment->request_settings.request_timeout_ms));
  if (!answer.ok() || answer->result_int() != 200) {
    co_return ErrorResponse(req, absl::NotFoundError("deployment '" + deployment->name +
                                                     "' does not serve a swagger document at " +
                                                     deployment->routes.swagger_path));
  }
  Response res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::content_type, "application/json");
  res.set(kDeploymentHeader, deployment->name);
  res.body() = std::move(answer->body());
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  co_return res;
}

void DataPlane::StartMirror(const Request& req, const std::string& endpoint,
                            std::shared_ptr<const DeploymentRoute> mirror, const std::string& path,
                            std::string_view query) {
  if (mirror->ready.empty()) {
    metrics_.RecordMirror(endpoint, mirror->name, "dropped");
    return;
  }
  {
    absl::MutexLock lock(&mirror->mirror_queue->mu);
    if (mirror->mirror_queue->waiting.size() >= options_.mirror_queue_capacity) {
      metrics_.RecordMirror(endpoint, mirror->name, "dropped");
      return;
    }
    // The port is set when the copy is sent, to the instance chosen then.
    mirror->mirror_queue->waiting.push_back(UpstreamRequest(req, path, query, 0));
  }
  PumpMirror(endpoint, std::move(mirror));
}

void DataPlane::PumpMirror(const std::string& endpoint,
                           std::shared_ptr<const DeploymentRoute> mirror) {
  const int concurrency = std::max(1, mirror->limits().running_limit());
  for (;;) {
    Request copy;
    {
      absl::MutexLock lock(&mirror->mirror_queue->mu);
      MirrorQueue& queue = *mirror->mirror_queue;
      if (queue.waiting.empty() || queue.in_flight >= concurrency) return;
      copy = std::move(queue.waiting.front());
      queue.waiting.pop_front();
      ++queue.in_flight;
    }
    const InstanceTarget& instance = LeastLoaded(mirror->ready);
    copy.set(bhttp::field::host, "127.0.0.1:" + std::to_string(instance.port));
    SteadyTime deadline =
        clock_.Now() + std::chrono::milliseconds(mirror->request_settings.request_timeout_ms);
    auto pool = instance.pool;
    auto outstanding = instance.outstanding;
    // Detached: the client's response never waits for, or depends on, the copy.
    asio::co_spawn(
        pool->executor(),
        [this, endpoint, mirror, pool, outstanding, deadline,
         copy = std::move(copy)]() mutable -> Awaitable<void> {
          outstanding->fetch_add(1);
          auto answer = co_await pool->Send(std::move(copy), deadline);
          outstanding->fetch_sub(1);
          {
            absl::MutexLock lock(&mirror->mirror_queue->mu);
            --mirror->mirror_queue->in_flight;
          }
          metrics_.RecordMirror(endpoint, mirror->name, answer.ok() ? "sent" : "failed");
          PumpMirror(endpoint, mirror);
        },
        asio::detached);
  }
}

}  // namespace berth::gateway
