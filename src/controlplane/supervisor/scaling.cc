// The supervisor's scaling: instance_count or the Autoscaler's count, waking a deployment
// scaled to zero when a request waits for it, and the instance figures it feeds the metrics.

#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "controlplane/supervisor.h"
#include "controlplane/supervisor/supervisor_records.h"
#include "spdlog/spdlog.h"

namespace berth::controlplane {

namespace asio = http::asio;
using core::ProvisioningState;

void Supervisor::ConfigureScaling(Deployment& d, bool new_template, SteadyTime now) {
  if (d.spec.scale_settings.type != core::ScaleType::kTargetUtilization) {
    d.autoscaler.reset();
    d.desired = d.spec.instance_count;
    return;
  }
  const int concurrency =
      core::EffectiveRequestSettings(
          d.spec, d.native || core::ServingKindOf(d.spec) == core::ServingKind::kTritonModel)
          .max_concurrent_requests_per_instance;
  AutoscalePolicy policy = AutoscalePolicy::From(d.spec.scale_settings, concurrency);
  if (!d.autoscaler) {
    // A new deployment starts with its initial instances; one that turns to autoscaling keeps
    // what it has, within the new bounds.
    int initial = d.instances.empty() ? core::InitialInstances(d.spec) : d.desired;
    d.autoscaler.emplace(policy, initial, now);
    ScaleDecision start{d.autoscaler->desired(), d.autoscaler->desired() != d.desired,
                        "autoscaling between " + std::to_string(policy.min_instances) + " and " +
                            std::to_string(policy.max_instances) + " instances"};
    ApplyScaleDecision(d, start);
  } else if (!(d.autoscaler->policy() == policy)) {
    ApplyScaleDecision(d, d.autoscaler->SetPolicy(policy, now));
  }
  if (new_template && d.autoscaler->desired() == 0) {
    // A create or update proves itself with one instance, even when scaled to zero.
    ScaleDecision woken = d.autoscaler->Wake(now);
    woken.reason = "the update starts one instance to prove the deployment";
    ApplyScaleDecision(d, woken);
  }
}

void Supervisor::ApplyScaleDecision(Deployment& d, const ScaleDecision& decision) {
  const int from = d.desired;
  d.desired = decision.desired;
  if (!decision.changed || from == decision.desired) return;
  spdlog::info("deployment {}: {}", d.key, decision.reason);
  d.scale_events.push_back({clock_.WallNow(), from, decision.desired, decision.reason});
  constexpr size_t kKeptScaleEvents = 10;
  while (d.scale_events.size() > kKeptScaleEvents) d.scale_events.pop_front();
  if (metrics_) {
    metrics_->RecordScaleDecision(d.record.endpoint, d.record.name, from, decision.desired);
  }
  // Whether requests may wait for an instance can change with desired.
  publisher_.MarkChanged(d.record.endpoint);
}

void Supervisor::Autoscale(SteadyTime now) {
  for (auto& [key, dp] : deployments_) {
    Deployment& d = *dp;
    // A Failed deployment is not scaled: its old instances are never restarted, so scaling
    // them down could not be undone until the next update.
    if (!d.autoscaler || d.removing || d.record.state == ProvisioningState::kDeleting ||
        d.record.state == ProvisioningState::kFailed || !d.autoscaler->Due(now)) {
      continue;
    }
    gateway::DeploymentLoad load = routes_.Load(d.record.endpoint, d.record.name);
    LoadSample sample{load.running, load.waiting,
                      load.arrivals >= d.arrivals_seen ? load.arrivals - d.arrivals_seen : 0};
    d.arrivals_seen = load.arrivals;
    ApplyScaleDecision(d, d.autoscaler->Observe(sample, now));
  }
}

void Supervisor::OnDemand(const std::string& endpoint, const std::string& deployment) {
  {
    absl::MutexLock lock(&demand_mu_);
    // One wake-up on the control thread for however many requests wait meanwhile.
    if (!demanded_.insert(endpoint + "/" + deployment).second) return;
  }
  asio::post(control_, [this] {
    if (running_) WakeDemanded();
  });
}

void Supervisor::WakeDemanded() {
  std::set<std::string> keys;
  {
    absl::MutexLock lock(&demand_mu_);
    keys = std::exchange(demanded_, {});
  }
  absl::MutexLock lock(&mu_);
  SteadyTime now = clock_.Now();
  for (const std::string& key : keys) {
    auto it = deployments_.find(key);
    if (it == deployments_.end() || !it->second->autoscaler || it->second->removing) continue;
    Deployment& d = *it->second;
    ScaleDecision woken = d.autoscaler->Wake(now);
    if (!woken.changed) continue;
    ApplyScaleDecision(d, woken);
    ReconcileDeployment(d, now);
  }
  Publish();
}

void Supervisor::UpdateMetrics(SteadyTime now) {
  if (metrics_ == nullptr) return;
  std::set<std::pair<std::string, std::string>> known;
  std::vector<std::tuple<std::string, std::string, int64_t, compute::InstanceId>> live;
  for (const auto& [key, d] : deployments_) {
    int ready = 0;
    for (const auto& [id, i] : d->instances) {
      if (i.phase == InstancePhase::kReady) ++ready;
      if (i.process && i.phase != InstancePhase::kExited) {
        live.emplace_back(d->record.endpoint, d->record.name, id, *i.process);
      }
    }
    metrics_->SetInstances(d->record.endpoint, d->record.name, d->desired, ready);
    metrics_->SetQueued(d->record.endpoint, d->record.name,
                        routes_.Load(d->record.endpoint, d->record.name).waiting);
    known.insert({d->record.endpoint, d->record.name});
  }
  constexpr std::chrono::seconds kUsageEvery{5};
  if (now < next_usage_sample_ || sampling_usage_) return;
  next_usage_sample_ = now + kUsageEvery;
  sampling_usage_ = true;
  // Series of deleted deployments go; usage is read from /proc or cgroups, off this thread.
  metrics_->Retain(known);
  RunBlocking(
      blocking_,
      [this, live = std::move(live)] {
        std::map<std::pair<std::string, std::string>, std::set<int64_t>> instances;
        for (const auto& [endpoint, deployment, id, process] : live) {
          instances[{endpoint, deployment}].insert(id);
          auto usage = driver_.Usage(process);
          if (usage.ok()) {
            metrics_->SetInstanceUsage(endpoint, deployment, id, usage->cpu_seconds,
                                       usage->rss_bytes);
          }
        }
        for (const auto& [key, ids] : instances) {
          metrics_->RetainInstances(key.first, key.second, ids);
        }
        return true;
      },
      [this](bool) {
        absl::MutexLock lock(&mu_);
        sampling_usage_ = false;
      });
}

}  // namespace berth::controlplane
