#include "controlplane/supervisor.h"

#include <algorithm>
#include <set>
#include <thread>

#include "common/status_macros.h"
#include "controlplane/supervisor/supervisor_records.h"
#include "core/launch_plan.h"
#include "core/spec_json.h"
#include "spdlog/spdlog.h"

namespace berth::controlplane {

namespace asio = http::asio;
namespace fs = std::filesystem;
using core::ProvisioningState;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// What decides how an instance is launched: a change here means new instances.
std::string TemplateHash(const core::DeploymentSpec& spec) {
  nlohmann::json full = core::ToJson(spec);
  nlohmann::json launch = nlohmann::json::object();
  for (const char* field : {"model", "code_configuration", "environment", "environment_variables",
                            "egress_public_network_access", "resources"}) {
    if (full.contains(field)) launch[field] = full[field];
  }
  return std::to_string(std::hash<std::string>{}(launch.dump()));
}

milliseconds StartupTimeout(const core::ProbeSettings& p) {
  return seconds(p.initial_delay_s) + seconds(p.period_s) * p.failure_threshold +
         seconds(p.timeout_s);
}

}  // namespace

Supervisor::Supervisor(asio::any_io_executor control, asio::any_io_executor blocking,
                       state::StateStore& store, const auth::SecretBox& secrets, Launcher& launcher,
                       Prober& prober, compute::ComputeDriver& driver, gateway::RoutingSink& routes,
                       const Clock& clock, SupervisorOptions options)
    : control_(std::move(control)),
      blocking_(std::move(blocking)),
      store_(store),
      ordered_(asio::make_strand(blocking_)),
      reader_(store, secrets, options.data_dir / "instances"),
      launcher_(launcher),
      prober_(prober),
      driver_(driver),
      clock_(clock),
      options_(std::move(options)),
      publisher_(routes),
      routes_(routes) {}

Supervisor::~Supervisor() { running_ = false; }

void Supervisor::SetRecorder(OutcomeRecorder* recorder) {
  recorder_ = recorder;
  cleaner_.emplace(*recorder, InstancesDir());
}

void Supervisor::SetMetrics(gateway::Metrics* metrics) { metrics_ = metrics; }

void Supervisor::Start() {
  running_ = true;
  // The feed is followed from before the full read: what changes meanwhile is read twice,
  // which is harmless, rather than missed.
  auto revision = store_.CurrentRevision();
  if (!revision.ok())
    spdlog::error("cannot read the state's revision: {}", revision.status().ToString());
  auto all = reader_.ReadAll();
  if (!all.ok()) spdlog::error("cannot load state: {}", all.status().ToString());
  {
    absl::MutexLock lock(&mu_);
    if (revision.ok()) seen_revision_ = *revision;
    if (all.ok()) {
      for (auto& change : *all) Apply(std::move(change));
    }
    Tick();
  }
  timer_ = std::make_unique<asio::steady_timer>(control_);
  asio::co_spawn(control_, Loop(), asio::detached);
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

void Supervisor::Notify(const std::string& endpoint, const std::string& deployment) {
  ReadAndApply(endpoint, deployment);
}

void Supervisor::ReadAndApply(const std::string& endpoint, const std::string& deployment) {
  absl::MutexLock serial(&notify_mu_);
  auto change = reader_.Read(endpoint, deployment);
  if (!change.ok()) {
    spdlog::error("cannot read the state of {}{}{}: {}; trying again", endpoint,
                  deployment.empty() ? "" : "/", deployment, change.status().ToString());
    RefreshLater(endpoint, deployment);
    return;
  }
  absl::MutexLock lock(&mu_);
  Apply(*std::move(change));
  Publish();
}

void Supervisor::RefreshLater(const std::string& endpoint, const std::string& deployment) {
  absl::MutexLock lock(&mu_);
  refresh_.insert({endpoint, deployment});
}

void Supervisor::StartRefreshes() {
  for (const auto& [endpoint, deployment] : std::exchange(refresh_, {})) {
    RunBlocking(
        blocking_,
        [this, endpoint = endpoint, deployment = deployment] {
          ReadAndApply(endpoint, deployment);
          return true;
        },
        [](bool) {});
  }
}

void Supervisor::FollowChanges() {
  constexpr size_t kFeedBatch = 1000;
  if (following_) return;
  following_ = true;
  RunBlocking(
      blocking_, [this, since = seen_revision_] { return store_.ChangesSince(since, kFeedBatch); },
      [this](absl::StatusOr<state::ChangeBatch> batch) {
        absl::MutexLock lock(&mu_);
        if (batch.ok()) {
          following_ = false;
          for (const auto& c : batch->changes) {
            refresh_.insert(
                {c.endpoint, c.kind == state::RecordKind::kDeployment ? c.deployment : ""});
          }
          seen_revision_ = batch->changes.size() < kFeedBatch ? batch->current_revision
                                                              : batch->changes.back().revision;
          return;
        }
        if (!absl::IsOutOfRange(batch.status())) {
          following_ = false;  // tried again on the next tick
          spdlog::warn("cannot read the state's change feed: {}", batch.status().ToString());
          return;
        }
        spdlog::warn("the state's change feed no longer reaches revision {}: reading everything",
                     seen_revision_);
        RunBlocking(
            blocking_,
            [this]() -> absl::StatusOr<std::pair<int64_t, std::vector<std::string>>> {
              ASSIGN_OR_RETURN(int64_t revision, store_.CurrentRevision());
              ASSIGN_OR_RETURN(auto records, store_.ListEndpoints());
              std::vector<std::string> names;
              for (const auto& r : records) names.push_back(r.name);
              return std::make_pair(revision, std::move(names));
            },
            [this](absl::StatusOr<std::pair<int64_t, std::vector<std::string>>> all) {
              absl::MutexLock lock(&mu_);
              following_ = false;
              if (!all.ok()) return;  // the feed is asked again on the next tick
              // Every endpoint, stored or known, is read again (gone ones are forgotten).
              for (const auto& name : all->second) refresh_.insert({name, ""});
              for (const auto& [name, e] : endpoints_) refresh_.insert({name, ""});
              seen_revision_ = all->first;
            });
      });
}

void Supervisor::Shutdown() {
  running_ = false;
  if (timer_) {
    asio::post(control_, [this] { timer_->cancel(); });
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

// ------------------------------------------------------------------------ declared state

void Supervisor::Apply(DeclaredChange change) {
  const std::string& name = change.endpoint;
  if (change.endpoint_read) {
    if (change.declared) {
      auto& slot = endpoints_[name];
      if (!slot) slot = std::make_unique<Endpoint>();
      slot->declared = *std::move(change.declared);
    } else {
      endpoints_.erase(name);
    }
    publisher_.MarkChanged(name);
  }
  std::set<std::string> seen;
  for (auto& d : change.deployments) {
    seen.insert(d.record.endpoint + "/" + d.record.name);
    ApplyDeployment(std::move(d));
  }
  for (const auto& gone : change.gone) ForgetDeployment(name + "/" + gone);
  if (change.all_deployments) {
    // Deployments gone from the store (removed elsewhere): stop what still runs.
    std::string prefix = name + "/";
    std::vector<std::string> gone;
    for (auto it = deployments_.lower_bound(prefix);
         it != deployments_.end() && it->first.starts_with(prefix); ++it) {
      if (!seen.count(it->first)) gone.push_back(it->first);
    }
    for (const auto& key : gone) ForgetDeployment(key);
  }
}

void Supervisor::ApplyDeployment(DeclaredDeployment declared) {
  const state::DeploymentRecord& dr = declared.record;
  std::string key = dr.endpoint + "/" + dr.name;
  auto& slot = deployments_[key];
  if (!slot) {
    slot = std::make_unique<Deployment>();
    slot->key = key;
    slot->record = dr;
    slot->next_instance_id = declared.highest_instance_dir + 1;
  } else if (slot->record == dr && !slot->template_hash.empty()) {
    return;  // nothing changed
  }
  // New instances when what they run changed, or when a failed rollout is retried.
  std::string launch_hash = TemplateHash(declared.spec);
  bool retry =
      slot->record.generation != dr.generation && slot->record.state == ProvisioningState::kFailed;
  bool new_template = false;
  if (slot->template_hash.empty() || launch_hash != slot->launch_hash || retry) {
    slot->template_hash = launch_hash + "#" + std::to_string(dr.generation);
    new_template = true;
  }
  slot->launch_hash = launch_hash;
  slot->record = std::move(declared.record);
  slot->spec = std::move(declared.spec);
  ConfigureScaling(*slot, new_template, clock_.Now());
  publisher_.MarkChanged(slot->record.endpoint);
}

void Supervisor::ForgetDeployment(const std::string& key) {
  auto it = deployments_.find(key);
  if (it == deployments_.end()) return;
  for (auto& [id, i] : it->second->instances) {
    if (i.process && i.phase != InstancePhase::kExited) driver_.Stop(*i.process, milliseconds(0));
  }
  publisher_.MarkChanged(it->second->record.endpoint);
  deployments_.erase(it);
}

// ---------------------------------------------------------------------------------- tick

void Supervisor::Tick() {
  SteadyTime now = clock_.Now();
  FollowChanges();
  StartRefreshes();
  ObserveExits(now);
  DriveStops(now);
  ScheduleProbes(now);
  Autoscale(now);
  std::vector<std::string> keys;
  for (const auto& [key, d] : deployments_) keys.push_back(key);
  for (const auto& key : keys) {
    auto it = deployments_.find(key);
    if (it == deployments_.end() || it->second->removing) continue;
    ReconcileDeployment(*it->second, now);
  }
  FinishEndpointDeletes();
  Publish();
  UpdateMetrics(now);
}

void Supervisor::ReconcileDeployment(Deployment& d, SteadyTime now) {
  DesiredDeployment desired{d.template_hash, d.desired, d.record.state,
                            StartupTimeout(d.spec.readiness_probe)};
  desired.max_surge = DefaultMaxSurge(d.desired);
  std::vector<ObservedInstance> observed;
  for (const auto& [id, i] : d.instances) {
    observed.push_back({i.id, i.template_hash, i.phase, i.ever_ready, i.started_at, i.exited_at,
                        i.exit_code, i.exit_signal, i.restarts, i.exit_limit});
  }
  ApplyActions(d, Reconcile(desired, observed, now), now);
}

void Supervisor::ObserveExits(SteadyTime now) {
  std::vector<compute::ExitInfo> exits = driver_.PollExits();
  for (const auto& exit : exits) {
    for (auto& [key, d] : deployments_) {
      for (auto& [id, i] : d->instances) {
        if (!i.process || *i.process != exit.id || i.phase == InstancePhase::kExited) continue;
        if (i.phase == InstancePhase::kReady) publisher_.MarkChanged(d->record.endpoint);
        i.phase = InstancePhase::kExited;
        i.exited_at = now;
        i.exit_code = exit.exit_code;
        i.exit_signal = exit.signal;
        i.exit_limit = exit.limit;
        i.process.reset();
        spdlog::info("instance {}/{} exited (code {}, signal {}{}{})", key, id, exit.exit_code,
                     exit.signal, exit.limit.empty() ? "" : ", ", exit.limit);
      }
    }
  }
}

void Supervisor::DriveStops(SteadyTime now) {
  for (auto& [key, d] : deployments_) {
    for (auto& [id, i] : d->instances) {
      if (i.phase != InstancePhase::kStopping || i.stop_sent || i.launching) continue;
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
  auto probe = [this](const std::string& key, const Instance& i, ProbeKind kind,
                      const std::string& path, const core::ProbeSettings& p) {
    ProbeTarget target;
    target.port = i.endpoints.port;
    target.http_socket = i.endpoints.http_socket;
    target.runner_control_socket = i.endpoints.runner_control_socket;
    prober_.Probe(target, path, seconds(p.timeout_s),
                  [this, key, id = i.id, incarnation = i.incarnation, kind](ProbeResult result) {
                    // Back on the control executor, whatever thread the prober answered on.
                    asio::post(control_,
                               [this, key, id, incarnation, kind, result = std::move(result)] {
                                 if (running_) OnProbeResult(key, id, incarnation, kind, result);
                               });
                  });
  };
  for (auto dit = deployments_.begin(); dit != deployments_.end(); ++dit) {
    Deployment& d = *dit->second;
    core::ServingRoutes routes = core::RoutesFor(d.spec);
    for (auto iit = d.instances.begin(); iit != d.instances.end(); ++iit) {
      Instance& i = iit->second;
      if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping || i.launching) {
        continue;
      }
      if (!i.readiness_in_flight && now >= i.next_readiness) {
        i.readiness_in_flight = true;
        probe(d.key, i, ProbeKind::kReadiness, routes.readiness_path, d.spec.readiness_probe);
      }
      if (!i.liveness_in_flight && now >= i.next_liveness) {
        i.liveness_in_flight = true;
        probe(d.key, i, ProbeKind::kLiveness, routes.liveness_path, d.spec.liveness_probe);
      }
    }
  }
}

void Supervisor::OnProbeResult(const std::string& key, int64_t id, uint64_t incarnation,
                               ProbeKind kind, const ProbeResult& result) {
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
    i.next_readiness = now + (i.cold && i.phase == InstancePhase::kStarting
                                  ? std::chrono::duration_cast<SteadyTime::duration>(options_.tick)
                                  : seconds(p.period_s));
    if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) return;
    if (result.healthy) {
      i.readiness_failures = 0;
      if (++i.readiness_successes >= p.success_threshold && i.phase != InstancePhase::kReady) {
        i.phase = InstancePhase::kReady;
        i.ever_ready = true;
        i.restarts = 0;
        i.cold = false;
        spdlog::info("instance {}/{} is ready", key, id);
        publisher_.MarkChanged(d.record.endpoint);
        Publish();
      }
    } else {
      i.readiness_successes = 0;
      if (++i.readiness_failures >= p.failure_threshold && i.phase == InstancePhase::kReady) {
        i.phase = InstancePhase::kUnready;
        AppendLogLater(i.log_file, "berth: readiness probe failed " +
                                       std::to_string(i.readiness_failures) + " times (" +
                                       result.detail + "); instance taken out of rotation");
        publisher_.MarkChanged(d.record.endpoint);
        Publish();
      }
    }
    return;
  }
  const core::ProbeSettings& p = d.spec.liveness_probe;
  i.liveness_in_flight = false;
  i.next_liveness = now + seconds(p.period_s);
  if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) return;
  if (result.healthy) {
    i.liveness_failures = 0;
    return;
  }
  if (++i.liveness_failures >= p.failure_threshold && i.process) {
    AppendLogLater(i.log_file, "berth: liveness probe failed " +
                                   std::to_string(i.liveness_failures) + " times (" +
                                   result.detail + "); restarting the instance");
    driver_.Stop(*i.process, milliseconds(0));
    i.liveness_failures = 0;
  }
}

// ------------------------------------------------------------------------------- actions

void Supervisor::Launch(Deployment& d, Instance& i, SteadyTime now) {
  i.incarnation = next_incarnation_++;
  i.template_hash = d.template_hash;
  i.phase = InstancePhase::kStarting;
  i.launching = true;
  i.started_at = now;
  i.process.reset();
  i.endpoints = {};
  i.readiness_in_flight = i.liveness_in_flight = false;
  i.readiness_successes = i.readiness_failures = i.liveness_failures = 0;
  // With no ready instance, requests may be waiting (scaled to zero, or the only instance
  // restarting): find out at once when this one is ready. A deployment being created waits
  // its initial_delay, as on Azure.
  i.cold = d.record.state != ProvisioningState::kCreating &&
           std::none_of(d.instances.begin(), d.instances.end(), [](const auto& entry) {
             return entry.second.phase == InstancePhase::kReady;
           });
  i.next_readiness = i.cold ? now : now + seconds(d.spec.readiness_probe.initial_delay_s);
  i.next_liveness = now + seconds(d.spec.liveness_probe.initial_delay_s);
  i.stop_sent = false;
  LaunchRequest request;
  request.endpoint = d.record.endpoint;
  request.deployment = d.record.name;
  request.instance_id = i.id;
  request.spec = d.spec;
  request.instance_dir = InstancesDir() / d.record.endpoint / d.record.name / std::to_string(i.id);
  i.log_file = request.instance_dir / "logs" / core::kInferenceServerLog;
  RunBlocking(
      blocking_, [this, request = std::move(request)] { return launcher_.Launch(request); },
      [this, key = d.key, id = i.id, incarnation = i.incarnation](LaunchResult result) {
        OnLaunched(key, id, incarnation, std::move(result));
      });
}

void Supervisor::OnLaunched(const std::string& key, int64_t id, uint64_t incarnation,
                            LaunchResult result) {
  absl::MutexLock lock(&mu_);
  auto dit = deployments_.find(key);
  Instance* i = nullptr;
  if (dit != deployments_.end()) {
    auto iit = dit->second->instances.find(id);
    if (iit != dit->second->instances.end() && iit->second.incarnation == incarnation) {
      i = &iit->second;
    }
  }
  if (i == nullptr) {
    // The deployment or the instance went away while it was launching.
    if (result.process.ok()) driver_.Stop(*result.process, milliseconds(0));
    return;
  }
  i->launching = false;
  i->log_file = result.log_file;
  if (!result.process.ok()) {
    i->phase = InstancePhase::kExited;
    i->exited_at = clock_.Now();
    i->exit_code = -1;
    i->exit_signal = 0;
    i->exit_limit.clear();
    return;
  }
  i->process = *result.process;
  i->endpoints = std::move(result.endpoints);
  if (dit->second->native != result.native) {
    dit->second->native = result.native;
    publisher_.MarkChanged(dit->second->record.endpoint);
  }
}

void Supervisor::SetDeploymentState(Deployment& d, ProvisioningState state, std::string reason,
                                    fs::path tail_of) {
  // Recorded here at once, so Reconcile does not ask again while the write is under way.
  d.record.state = state;
  d.record.reason = reason;
  publisher_.MarkChanged(d.record.endpoint);  // whether requests wait depends on the state
  RunBlocking(
      ordered_,
      [this, endpoint = d.record.endpoint, name = d.record.name, generation = d.record.generation,
       state, reason = std::move(reason), tail_of = std::move(tail_of)]() mutable {
        if (!tail_of.empty()) {
          std::string tail = compute::TailLog(tail_of, options_.reason_log_lines);
          if (!tail.empty()) reason += ". Last log lines:\n" + tail;
        }
        return recorder_->RecordDeploymentOutcome(endpoint, name, generation, state, reason);
      },
      [this, endpoint = d.record.endpoint, name = d.record.name](absl::Status s) {
        if (s.ok()) return;
        if (!absl::IsAborted(s)) {
          spdlog::error("cannot record state of {}/{}: {}", endpoint, name, s.ToString());
        }
        // A newer write won (or the write failed): pick up what the store says.
        RefreshLater(endpoint, name);
      });
}

void Supervisor::RemoveDeployment(Deployment& d) {
  d.removing = true;
  RunBlocking(
      ordered_,
      [this, endpoint = d.record.endpoint, name = d.record.name] {
        return cleaner_->FinishDeploymentDelete(endpoint, name);
      },
      [this, key = d.key, endpoint = d.record.endpoint, name = d.record.name](absl::Status s) {
        {
          absl::MutexLock lock(&mu_);
          auto it = deployments_.find(key);
          if (it == deployments_.end()) return;
          if (s.ok()) {
            spdlog::info("deployment {} deleted", key);
            publisher_.MarkChanged(endpoint);
            deployments_.erase(it);
            return;
          }
          it->second->removing = false;
        }
        if (!absl::IsAborted(s)) spdlog::error("cannot delete {}: {}", key, s.ToString());
        RefreshLater(endpoint, name);
      });
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
        AppendLogLater(i.log_file, "berth: restarting instance " + std::to_string(i.id) +
                                       " (restart " + std::to_string(i.total_restarts) + ")");
        Launch(d, i, now);
        break;
      }
      case Action::Kind::kStop: {
        Instance& i = d.instances[a.instance_id];
        if (i.phase == InstancePhase::kExited || i.phase == InstancePhase::kStopping) break;
        if (i.phase == InstancePhase::kReady) publisher_.MarkChanged(d.record.endpoint);
        i.phase = InstancePhase::kStopping;
        i.stop_requested = now;
        i.stop_sent = false;
        break;
      }
      case Action::Kind::kForget:
        d.instances.erase(a.instance_id);
        break;
      case Action::Kind::kMarkSucceeded:
        SetDeploymentState(d, ProvisioningState::kSucceeded, "", {});
        break;
      case Action::Kind::kMarkFailed: {
        fs::path log;
        if (auto it = d.instances.find(a.instance_id); it != d.instances.end()) {
          log = it->second.log_file;
        }
        spdlog::warn("deployment {} failed: {}", d.key, a.reason);
        SetDeploymentState(d, ProvisioningState::kFailed, a.reason, log);
        break;
      }
      case Action::Kind::kRemove:
        RemoveDeployment(d);
        return;
    }
  }
}

void Supervisor::FinishEndpointDeletes() {
  for (auto& [name, e] : endpoints_) {
    if (e->declared.record.state != ProvisioningState::kDeleting || e->removing) continue;
    std::string prefix = name + "/";
    auto it = deployments_.lower_bound(prefix);
    if (it != deployments_.end() && it->first.starts_with(prefix)) continue;  // not yet
    e->removing = true;
    RunBlocking(
        ordered_, [this, name = name] { return cleaner_->FinishEndpointDelete(name); },
        [this, name = name](absl::Status s) {
          {
            absl::MutexLock lock(&mu_);
            auto it = endpoints_.find(name);
            if (it == endpoints_.end()) return;
            if (s.ok()) {
              spdlog::info("endpoint {} deleted", name);
              endpoints_.erase(it);
              publisher_.MarkChanged(name);
              return;
            }
            it->second->removing = false;
          }
          if (!absl::IsAborted(s))
            spdlog::error("cannot delete endpoint {}: {}", name, s.ToString());
          RefreshLater(name, "");
        });
  }
}

void Supervisor::AppendLogLater(fs::path log_file, std::string line) {
  if (log_file.empty()) return;
  asio::post(ordered_, [log_file = std::move(log_file), line = std::move(line)] {
    AppendInstanceLog(log_file, line);
  });
}

}  // namespace berth::controlplane
