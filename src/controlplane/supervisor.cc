#include "controlplane/supervisor.h"

#include <fstream>
#include <set>
#include <thread>

#include "common/status_macros.h"
#include "core/launch_plan.h"
#include "core/mlflow_flavor.h"
#include "core/spec_json.h"
#include "http/upstream_pool.h"
#include "spdlog/spdlog.h"

namespace berth::controlplane {

namespace asio = http::asio;
namespace fs = std::filesystem;
using core::ProvisioningState;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Supervisor::Instance {
  int64_t id = 0;
  uint64_t incarnation = 0;  // changes on every launch; stale probe results are ignored
  std::string template_hash;
  InstancePhase phase = InstancePhase::kStarting;
  bool ever_ready = false;
  SteadyTime started_at;
  SteadyTime exited_at;
  int exit_code = -1;
  int exit_signal = 0;
  int restarts = 0;        // since last ready (drives backoff)
  int total_restarts = 0;  // shown to users
  std::optional<compute::InstanceId> process;
  int port = 0;
  int grpc_port = 0;  // berth-worker instances only
  std::string launch_error;
  // Probes.
  SteadyTime next_readiness;
  SteadyTime next_liveness;
  bool readiness_in_flight = false;
  bool liveness_in_flight = false;
  int readiness_successes = 0;
  int readiness_failures = 0;
  int liveness_failures = 0;
  // Stopping.
  SteadyTime stop_requested;
  bool stop_sent = false;
  fs::path log_file;
};

struct Supervisor::Deployment {
  std::string key;
  state::DeploymentRecord record;
  core::DeploymentSpec spec;
  std::string launch_hash;    // of the fields that decide how instances are launched
  std::string template_hash;  // launch_hash + the generation that introduced it
  std::map<int64_t, Instance> instances;
  int64_t next_instance_id = 1;
  bool native = false;  // berth-worker serves it (known once an instance was launched)
};

struct Supervisor::Endpoint {
  state::EndpointRecord record;
  core::EndpointSpec spec;
  std::string primary_key;
  std::string secondary_key;
  std::string token_secret;
};

namespace {

// What decides how an instance is launched: a change here means new instances.
std::string TemplateHash(const core::DeploymentSpec& spec) {
  nlohmann::json full = core::ToJson(spec);
  nlohmann::json launch = nlohmann::json::object();
  for (const char* field :
       {"model", "code_configuration", "environment", "environment_variables"}) {
    if (full.contains(field)) launch[field] = full[field];
  }
  return std::to_string(std::hash<std::string>{}(launch.dump()));
}

milliseconds StartupTimeout(const core::ProbeSettings& p) {
  return seconds(p.initial_delay_s) + seconds(p.period_s) * p.failure_threshold +
         seconds(p.timeout_s);
}

int64_t HighestInstanceDir(const fs::path& dir) {
  int64_t highest = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    try {
      highest = std::max<int64_t>(highest, std::stoll(it->path().filename().string()));
    } catch (...) {
    }
  }
  return highest;
}

// MLflow mode: the folder inside AZUREML_MODEL_DIR that holds the MLmodel file.
absl::StatusOr<std::string> MlflowFolder(const fs::path& model_dir, const core::ModelSpec& model) {
  std::error_code ec;
  std::string folder = model.artifact && !model.artifact->is_file ? model.artifact->base_name : "";
  if (fs::exists(model_dir / folder / "MLmodel", ec)) return folder;
  return absl::FailedPreconditionError(
      "the model has no MLmodel file at " + (model_dir / folder / "MLmodel").string() +
      ": a deployment without environment.command or code_configuration serves an MLflow model");
}

void AppendLog(const fs::path& file, const std::string& line) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  std::ofstream(file, std::ios::app) << line << "\n";
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, state::StateStore& store,
                       const auth::SecretBox& secrets, ArtifactStore& artifacts,
                       compute::ComputeDriver& driver, gateway::RoutingSink& routes,
                       const Clock& clock, SupervisorOptions options)
    : io_(io),
      store_(store),
      secrets_(secrets),
      artifacts_(artifacts),
      driver_(driver),
      routes_(routes),
      clock_(clock),
      options_(std::move(options)) {}

Supervisor::~Supervisor() = default;

fs::path Supervisor::InstanceDir(const Deployment& d, int64_t id) const {
  return options_.data_dir / "instances" / d.record.endpoint / d.record.name / std::to_string(id);
}

void Supervisor::Start() {
  running_ = true;
  timer_ = std::make_unique<asio::steady_timer>(io_);
  {
    absl::MutexLock lock(&mu_);
    Tick();
  }
  asio::co_spawn(io_, Loop(), asio::detached);
}

http::Awaitable<void> Supervisor::Loop() {
  while (running_) {
    timer_->expires_after(options_.tick);
    boost::system::error_code ec;
    co_await timer_->async_wait(http::Await(ec));
    if (!running_) break;
    absl::MutexLock lock(&mu_);
    Tick();
  }
}

void Supervisor::Notify() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reload(); !s.ok()) {
    spdlog::error("cannot load state: {}", s.ToString());
    dirty_ = true;
    return;
  }
  Publish();
}

void Supervisor::Shutdown() {
  running_ = false;
  if (timer_) {
    asio::post(io_, [this] { timer_->cancel(); });
  }
  std::vector<compute::InstanceId> processes;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, d] : deployments_) {
      for (auto& [id, i] : d->instances) {
        if (i.process && i.phase != InstancePhase::kExited) processes.push_back(*i.process);
      }
    }
  }
  for (auto p : processes) driver_.Stop(p, options_.stop_grace);
  // Wait for the exits within the grace period, then make sure.
  SteadyTime deadline = std::chrono::steady_clock::now() + options_.stop_grace + seconds(1);
  size_t exited = 0;
  while (exited < processes.size() && std::chrono::steady_clock::now() < deadline) {
    exited += driver_.PollExits().size();
    std::this_thread::sleep_for(milliseconds(20));
  }
  driver_.KillAll();
}

void Supervisor::Tick() {
  SteadyTime now = clock_.Now();
  if (dirty_.exchange(false)) {
    if (absl::Status s = Reload(); !s.ok()) {
      spdlog::error("cannot load state: {}", s.ToString());
      dirty_ = true;
    }
  }
  ObserveExits(now);
  DriveStops(now);
  ScheduleProbes(now);
  std::vector<std::string> keys;
  for (const auto& [key, d] : deployments_) keys.push_back(key);
  for (const auto& key : keys) {
    auto it = deployments_.find(key);
    if (it == deployments_.end()) continue;
    Deployment& d = *it->second;
    DesiredDeployment desired{d.template_hash, d.spec.instance_count, d.record.state,
                              StartupTimeout(d.spec.readiness_probe)};
    std::vector<ObservedInstance> observed;
    for (const auto& [id, i] : d.instances) {
      observed.push_back({i.id, i.template_hash, i.phase, i.ever_ready, i.started_at, i.exited_at,
                          i.exit_code, i.exit_signal, i.restarts});
    }
    ApplyActions(d, Reconcile(desired, observed, now), now);
  }
  FinishEndpointDeletes();
  Publish();
}

absl::Status Supervisor::Reload() {
  ASSIGN_OR_RETURN(auto endpoint_records, store_.ListEndpoints());
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints;
  std::set<std::string> seen;
  for (auto& record : endpoint_records) {
    auto e = std::make_unique<Endpoint>();
    auto parsed = core::ParseEndpointSpec(record.spec);
    if (!parsed.ok()) {
      spdlog::error("endpoint '{}' has an invalid stored spec: {}", record.name,
                    parsed.status().ToString());
      continue;
    }
    e->spec = parsed->spec;
    auto primary = secrets_.Open(record.primary_key_sealed);
    auto secondary = secrets_.Open(record.secondary_key_sealed);
    auto token = secrets_.Open(record.token_secret_sealed);
    if (!primary.ok() || !secondary.ok() || !token.ok()) {
      spdlog::error("endpoint '{}': cannot unseal its secrets (was the key file replaced?)",
                    record.name);
      continue;
    }
    e->primary_key = *primary;
    e->secondary_key = *secondary;
    e->token_secret = *token;
    ASSIGN_OR_RETURN(auto deployment_records, store_.ListDeployments(record.name));
    // Traffic written before names kept their case may differ in case from its deployment.
    std::vector<std::string> deployment_names;
    for (const auto& dr : deployment_records) deployment_names.push_back(dr.name);
    e->spec.traffic = core::TrafficByDeploymentName(e->spec.traffic, deployment_names);
    e->spec.mirror_traffic =
        core::TrafficByDeploymentName(e->spec.mirror_traffic, deployment_names);
    for (auto& dr : deployment_records) {
      std::string key = dr.endpoint + "/" + dr.name;
      auto dparsed = core::ParseDeploymentSpec(dr.spec);
      if (!dparsed.ok()) {
        spdlog::error("deployment '{}' has an invalid stored spec: {}", key,
                      dparsed.status().ToString());
        continue;
      }
      seen.insert(key);
      auto& slot = deployments_[key];
      if (!slot) {
        slot = std::make_unique<Deployment>();
        slot->key = key;
        slot->record = dr;
        slot->next_instance_id = HighestInstanceDir(InstanceDir(*slot, 0).parent_path()) + 1;
      }
      // New instances when what they run changed, or when a failed rollout is retried.
      std::string launch_hash = TemplateHash(dparsed->spec);
      bool retry = slot->record.generation != dr.generation &&
                   slot->record.state == ProvisioningState::kFailed;
      if (slot->template_hash.empty() || launch_hash != slot->launch_hash || retry) {
        slot->template_hash = launch_hash + "#" + std::to_string(dr.generation);
      }
      slot->launch_hash = launch_hash;
      slot->record = dr;
      slot->spec = dparsed->spec;
    }
    e->record = std::move(record);
    endpoints[e->record.name] = std::move(e);
  }
  // Deployments gone from the store (removed elsewhere): stop what still runs.
  for (auto it = deployments_.begin(); it != deployments_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    for (auto& [id, i] : it->second->instances) {
      if (i.process && i.phase != InstancePhase::kExited) driver_.Stop(*i.process, milliseconds(0));
    }
    it = deployments_.erase(it);
  }
  endpoints_ = std::move(endpoints);
  return absl::OkStatus();
}

void Supervisor::ObserveExits(SteadyTime now) {
  std::vector<compute::ExitInfo> exits = driver_.PollExits();
  for (const auto& exit : exits) {
    for (auto& [key, d] : deployments_) {
      for (auto& [id, i] : d->instances) {
        if (!i.process || *i.process != exit.id || i.phase == InstancePhase::kExited) continue;
        i.phase = InstancePhase::kExited;
        i.exited_at = now;
        i.exit_code = exit.exit_code;
        i.exit_signal = exit.signal;
        i.process.reset();
        spdlog::info("instance {}/{} exited (code {}, signal {})", key, id, exit.exit_code,
                     exit.signal);
      }
    }
  }
}

void Supervisor::DriveStops(SteadyTime now) {
  for (auto& [key, d] : deployments_) {
    for (auto& [id, i] : d->instances) {
      if (i.phase != InstancePhase::kStopping || i.stop_sent) continue;
      // Drain: wait for answers in flight, but no longer than a request may take.
      bool drained = routes_.InFlight(d->record.endpoint, d->record.name, id) == 0;
      bool overdue =
          now - i.stop_requested > milliseconds(d->spec.request_settings.request_timeout_ms);
      if (!drained && !overdue) continue;
      if (i.process) driver_.Stop(*i.process, options_.stop_grace);
      i.stop_sent = true;
    }
  }
}

void Supervisor::ScheduleProbes(SteadyTime now) {
  for (auto& [key, d] : deployments_) {
    core::ServingRoutes routes = core::RoutesFor(d->spec);
    for (auto& [id, i] : d->instances) {
      if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) continue;
      if (!i.readiness_in_flight && now >= i.next_readiness) {
        i.readiness_in_flight = true;
        asio::co_spawn(io_,
                       Probe(key, id, i.incarnation, ProbeKind::kReadiness, i.port,
                             routes.readiness_path, seconds(d->spec.readiness_probe.timeout_s)),
                       asio::detached);
      }
      if (!i.liveness_in_flight && now >= i.next_liveness) {
        i.liveness_in_flight = true;
        asio::co_spawn(io_,
                       Probe(key, id, i.incarnation, ProbeKind::kLiveness, i.port,
                             routes.liveness_path, seconds(d->spec.liveness_probe.timeout_s)),
                       asio::detached);
      }
    }
  }
}

http::Awaitable<void> Supervisor::Probe(std::string key, int64_t id, uint64_t incarnation,
                                        ProbeKind kind, int port, std::string path,
                                        milliseconds timeout) {
  auto status = co_await http::ProbeGet(io_.get_executor(), "127.0.0.1", port, path, timeout);
  bool healthy = status.ok() && *status >= 200 && *status < 400;
  std::string detail =
      status.ok() ? "HTTP " + std::to_string(*status) : std::string(status.status().message());
  OnProbeResult(key, id, incarnation, kind, healthy, detail);
}

void Supervisor::OnProbeResult(const std::string& key, int64_t id, uint64_t incarnation,
                               ProbeKind kind, bool healthy, const std::string& detail) {
  absl::MutexLock lock(&mu_);
  auto dit = deployments_.find(key);
  if (dit == deployments_.end()) return;
  Deployment& d = *dit->second;
  auto iit = d.instances.find(id);
  if (iit == d.instances.end() || iit->second.incarnation != incarnation) return;
  Instance& i = iit->second;
  SteadyTime now = clock_.Now();
  if (kind == ProbeKind::kReadiness) {
    const core::ProbeSettings& p = d.spec.readiness_probe;
    i.readiness_in_flight = false;
    i.next_readiness = now + seconds(p.period_s);
    if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) return;
    if (healthy) {
      i.readiness_failures = 0;
      if (++i.readiness_successes >= p.success_threshold && i.phase != InstancePhase::kReady) {
        i.phase = InstancePhase::kReady;
        i.ever_ready = true;
        i.restarts = 0;
        spdlog::info("instance {}/{} is ready", key, id);
        Publish();
      }
    } else {
      i.readiness_successes = 0;
      if (++i.readiness_failures >= p.failure_threshold && i.phase == InstancePhase::kReady) {
        i.phase = InstancePhase::kUnready;
        AppendLog(i.log_file, "berth: readiness probe failed " +
                                  std::to_string(i.readiness_failures) + " times (" + detail +
                                  "); instance taken out of rotation");
        Publish();
      }
    }
    return;
  }
  const core::ProbeSettings& p = d.spec.liveness_probe;
  i.liveness_in_flight = false;
  i.next_liveness = now + seconds(p.period_s);
  if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) return;
  if (healthy) {
    i.liveness_failures = 0;
    return;
  }
  if (++i.liveness_failures >= p.failure_threshold && i.process) {
    AppendLog(i.log_file, "berth: liveness probe failed " + std::to_string(i.liveness_failures) +
                              " times (" + detail + "); restarting the instance");
    driver_.Stop(*i.process, milliseconds(0));
    i.liveness_failures = 0;
  }
}

void Supervisor::Launch(Deployment& d, Instance& i, SteadyTime now) {
  i.incarnation = next_incarnation_++;
  i.template_hash = d.template_hash;
  i.phase = InstancePhase::kStarting;
  i.started_at = now;
  i.readiness_in_flight = i.liveness_in_flight = false;
  i.readiness_successes = i.readiness_failures = i.liveness_failures = 0;
  i.next_readiness = now + seconds(d.spec.readiness_probe.initial_delay_s);
  i.next_liveness = now + seconds(d.spec.liveness_probe.initial_delay_s);
  i.stop_sent = false;
  i.launch_error.clear();
  fs::path dir = InstanceDir(d, i.id);
  fs::path app = dir / "app";
  i.log_file = dir / "logs" / "inference-server.log";
  auto fail = [&](const std::string& message) {
    i.launch_error = message;
    AppendLog(i.log_file, "berth: " + message);
    i.phase = InstancePhase::kExited;
    i.exited_at = now;
    i.exit_code = -1;
    i.exit_signal = 0;
  };
  std::error_code ec;
  fs::create_directories(dir / "logs", ec);
  absl::Status prepared = absl::OkStatus();
  if (d.spec.code_configuration && d.spec.code_configuration->artifact) {
    prepared = artifacts_.CopyTo(*d.spec.code_configuration->artifact, app);
  } else {
    fs::remove_all(app, ec);
    fs::create_directories(app, ec);
  }
  if (!prepared.ok()) return fail("cannot prepare the code folder: " + prepared.ToString());
  core::LaunchInputs inputs;
  if (d.spec.model) {
    // A registered model (`azureml:<name>:<version>`) brings its files from the registry.
    absl::StatusOr<core::ModelSpec> model =
        models_ ? models_->Resolve(*d.spec.model) : absl::StatusOr<core::ModelSpec>(*d.spec.model);
    if (!model.ok()) return fail("cannot prepare the model: " + model.status().ToString());
    auto model_dir = artifacts_.MaterializeModel(*model);
    if (!model_dir.ok()) return fail("cannot prepare the model: " + model_dir.status().ToString());
    inputs.model_dir = model_dir->string() + "/";
    if (core::ServingKindOf(d.spec) == core::ServingKind::kMlflow) {
      auto folder = MlflowFolder(*model_dir, *model);
      if (!folder.ok()) return fail(std::string(folder.status().message()));
      inputs.mlflow_folder = *folder;
      inputs.native_mlflow = core::IsNativeMlflow(*model_dir / *folder);
    }
  }
  auto port = compute::PickFreePort();
  if (!port.ok()) return fail("no free port: " + port.status().ToString());
  i.port = *port;
  inputs.port = i.port;
  d.native = core::ServedByWorker(d.spec, inputs.native_mlflow);
  if (d.native) {
    auto grpc_port = compute::PickFreePort();
    if (!grpc_port.ok()) return fail("no free port: " + grpc_port.status().ToString());
    i.grpc_port = *grpc_port;
    inputs.grpc_port = i.grpc_port;
    inputs.worker = options_.worker.string();
  }
  inputs.app_dir = app.string();
  inputs.python = options_.python;
  inputs.python_dir = options_.python_dir.string();
  inputs.endpoint = d.record.endpoint;
  inputs.deployment = d.record.name;
  inputs.instance = std::to_string(i.id);
  core::LaunchPlan plan = core::PlanLaunch(d.spec, inputs);
  compute::LaunchSpec launch;
  launch.instance_key = d.key + "/" + std::to_string(i.id);
  launch.argv = std::move(plan.argv);
  launch.env = std::move(plan.env);
  launch.working_dir = app;
  launch.log_file = i.log_file;
  AppendLog(i.log_file, "berth: starting instance " + std::to_string(i.id) + " on port " +
                            std::to_string(i.port));
  auto process = driver_.Start(launch);
  if (!process.ok()) return fail(std::string(process.status().message()));
  i.process = *process;
}

void Supervisor::SetDeploymentState(Deployment& d, ProvisioningState state, std::string reason) {
  absl::Status s = recorder_->RecordDeploymentOutcome(d.record.endpoint, d.record.name,
                                                      d.record.generation, state, reason);
  if (!s.ok()) {
    if (!absl::IsAborted(s)) spdlog::error("cannot record state of {}: {}", d.key, s.ToString());
    dirty_ = true;  // a newer write wins; pick it up
    return;
  }
  d.record.state = state;
  d.record.reason = std::move(reason);
}

void Supervisor::ApplyActions(Deployment& d, const std::vector<Action>& actions, SteadyTime now) {
  for (const Action& a : actions) {
    switch (a.kind) {
      case Action::Kind::kStart: {
        Instance& i = d.instances[d.next_instance_id];
        i.id = d.next_instance_id++;
        Launch(d, i, now);
        break;
      }
      case Action::Kind::kRestart: {
        Instance& i = d.instances[a.instance_id];
        i.restarts++;
        i.total_restarts++;
        AppendLog(i.log_file, "berth: restarting instance " + std::to_string(i.id) + " (restart " +
                                  std::to_string(i.total_restarts) + ")");
        Launch(d, i, now);
        break;
      }
      case Action::Kind::kStop: {
        Instance& i = d.instances[a.instance_id];
        if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) break;
        i.phase = InstancePhase::kStopping;
        i.stop_requested = now;
        i.stop_sent = false;
        break;
      }
      case Action::Kind::kForget:
        d.instances.erase(a.instance_id);
        break;
      case Action::Kind::kMarkSucceeded:
        SetDeploymentState(d, ProvisioningState::kSucceeded, "");
        break;
      case Action::Kind::kMarkFailed: {
        std::string reason = a.reason;
        auto it = d.instances.find(a.instance_id);
        if (it != d.instances.end()) {
          std::string tail = compute::TailLog(it->second.log_file, options_.reason_log_lines);
          if (!tail.empty()) reason += ". Last log lines:\n" + tail;
        }
        spdlog::warn("deployment {} failed: {}", d.key, a.reason);
        SetDeploymentState(d, ProvisioningState::kFailed, reason);
        break;
      }
      case Action::Kind::kRemove: {
        if (absl::Status s = recorder_->FinishDeploymentDelete(d.record.endpoint, d.record.name);
            !s.ok() && !absl::IsNotFound(s)) {
          if (!absl::IsAborted(s)) spdlog::error("cannot delete {}: {}", d.key, s.ToString());
          dirty_ = true;
          break;
        }
        std::error_code ec;
        fs::remove_all(InstanceDir(d, 0).parent_path(), ec);
        spdlog::info("deployment {} deleted", d.key);
        deployments_.erase(d.key);  // `d` is gone: stop here
        return;
      }
    }
  }
}

void Supervisor::FinishEndpointDeletes() {
  for (auto it = endpoints_.begin(); it != endpoints_.end();) {
    const std::string& name = it->first;
    bool has_deployments = false;
    for (const auto& [key, d] : deployments_) {
      if (d->record.endpoint == name) has_deployments = true;
    }
    if (it->second->record.state == ProvisioningState::kDeleting && !has_deployments) {
      if (absl::Status s = recorder_->FinishEndpointDelete(name); !s.ok() && !absl::IsNotFound(s)) {
        if (!absl::IsAborted(s)) spdlog::error("cannot delete endpoint {}: {}", name, s.ToString());
        dirty_ = true;
        ++it;
        continue;
      }
      std::error_code ec;
      fs::remove_all(options_.data_dir / "instances" / name, ec);
      spdlog::info("endpoint {} deleted", name);
      it = endpoints_.erase(it);
      continue;
    }
    ++it;
  }
}

void Supervisor::Publish() {
  auto snapshot = std::make_shared<gateway::RoutingSnapshot>();
  snapshot->version = ++published_version_;
  for (const auto& [name, e] : endpoints_) {
    if (e->record.state == ProvisioningState::kDeleting) continue;
    auto route = std::make_shared<gateway::EndpointRouting>();
    route->name = name;
    route->auth_mode = e->spec.auth_mode;
    route->primary_key = e->primary_key;
    route->secondary_key = e->secondary_key;
    route->token_secret = e->token_secret;
    route->traffic = e->spec.traffic;
    route->mirror_traffic = e->spec.mirror_traffic;
    for (const auto& [key, d] : deployments_) {
      if (d->record.endpoint != name || d->record.state == ProvisioningState::kDeleting) continue;
      auto dr = std::make_shared<gateway::DeploymentRouting>();
      dr->name = d->record.name;
      const bool oip = d->native || core::ServingKindOf(d->spec) == core::ServingKind::kTritonModel;
      dr->request_settings = core::EffectiveRequestSettings(d->spec, oip);
      dr->routes = core::RoutesFor(d->spec);
      dr->speaks_oip = oip;
      for (const auto& [id, i] : d->instances) {
        if (i.phase != InstancePhase::kReady || !i.process) continue;
        dr->ready.push_back({i.id, i.incarnation, "127.0.0.1", i.port, i.grpc_port});
      }
      route->deployments[gateway::NameKey(dr->name)] = std::move(dr);
    }
    snapshot->endpoints[gateway::NameKey(name)] = std::move(route);
  }
  routes_.Publish(std::move(snapshot));
}

nlohmann::json Supervisor::InstancesJson(const std::string& endpoint,
                                         const std::string& deployment) const {
  absl::MutexLock lock(&mu_);
  nlohmann::json list = nlohmann::json::array();
  auto it = deployments_.find(endpoint + "/" + deployment);
  if (it == deployments_.end()) return list;
  for (const auto& [id, i] : it->second->instances) {
    nlohmann::json view = {{"id", id},
                           {"state", InstancePhaseName(i.phase)},
                           {"port", i.port},
                           {"grpc_port", i.grpc_port},
                           {"restarts", i.total_restarts},
                           {"current", i.template_hash == it->second->template_hash}};
    std::optional<int> pid = i.process ? driver_.Pid(*i.process) : std::nullopt;
    view["pid"] = pid ? nlohmann::json(*pid) : nlohmann::json(nullptr);
    if (i.phase == InstancePhase::kExited) {
      view["exit_code"] = i.exit_code;
      view["exit_signal"] = i.exit_signal;
    }
    list.push_back(std::move(view));
  }
  return list;
}

std::optional<fs::path> Supervisor::LogFile(const std::string& endpoint,
                                            const std::string& deployment, int64_t instance) const {
  // Logs outlive instance records (a failed rollout, a restarted berthd): read them from disk.
  fs::path dir = options_.data_dir / "instances" / endpoint / deployment;
  if (instance == 0) instance = HighestInstanceDir(dir);
  if (instance <= 0) return std::nullopt;
  fs::path file = dir / std::to_string(instance) / "logs" / "inference-server.log";
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  return file;
}

}  // namespace berth::controlplane
