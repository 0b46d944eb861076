// The supervisor's outward views: the routing it publishes to the data plane and the
// instance views and log files the management API shows.

#include "absl/time/time.h"
#include "controlplane/supervisor.h"
#include "controlplane/supervisor/supervisor_records.h"
#include "core/launch_plan.h"
#include "core/spec.h"

namespace berth::controlplane {

namespace fs = std::filesystem;
using core::ProvisioningState;

// ------------------------------------------------------------------------------- routing

void Supervisor::Publish() {
  publisher_.Publish([this](const std::string& name)
                         ABSL_NO_THREAD_SAFETY_ANALYSIS { return BuildRouting(name); });
}

std::shared_ptr<const gateway::EndpointRouting> Supervisor::BuildRouting(
    const std::string& name) const {
  auto eit = endpoints_.find(name);
  if (eit == endpoints_.end()) return nullptr;
  const DeclaredEndpoint& e = eit->second->declared;
  if (e.record.state == ProvisioningState::kDeleting) return nullptr;
  auto routing = std::make_shared<gateway::EndpointRouting>();
  routing->name = name;
  routing->auth_mode = e.spec.auth_mode;
  routing->primary_key = e.primary_key;
  routing->secondary_key = e.secondary_key;
  routing->token_secret = e.token_secret;
  routing->traffic = e.spec.traffic;
  routing->mirror_traffic = e.spec.mirror_traffic;
  routing->public_network_access = e.spec.public_network_access;
  std::string prefix = name + "/";
  for (auto it = deployments_.lower_bound(prefix);
       it != deployments_.end() && it->first.starts_with(prefix); ++it) {
    const Deployment& d = *it->second;
    if (d.record.state == ProvisioningState::kDeleting) continue;
    auto dr = std::make_shared<gateway::DeploymentRouting>();
    dr->name = d.record.name;
    dr->request_settings = core::EffectiveRequestSettings(
        d.spec, d.native || core::ServingKindOf(d.spec) == core::ServingKind::kTritonModel);
    dr->routes = core::RoutesFor(d.spec);
    dr->speaks_oip = d.native;
    dr->retry_on_instance_failure = d.spec.request_settings.retry_on_instance_failure;
    // Requests wait for an instance that is coming: one the deployment wants (not while its
    // latest template failed), or one an autoscaled deployment starts on demand.
    dr->expects_instances = !d.removing && d.record.state != ProvisioningState::kFailed &&
                            (d.autoscaler.has_value() || d.desired > 0);
    for (const auto& [id, i] : d.instances) {
      if (i.phase != InstancePhase::kReady || !i.process) continue;
      gateway::InstanceAddress address;
      address.id = id;
      address.incarnation = i.incarnation;
      address.port = i.endpoints.port;
      address.grpc_port = i.endpoints.grpc_port;
      address.http_socket = i.endpoints.http_socket;
      address.grpc_socket = i.endpoints.grpc_socket;
      address.runner_sockets = i.endpoints.runner_sockets;
      dr->ready.push_back(address);
    }
    routing->deployments[gateway::NameKey(dr->name)] = std::move(dr);
  }
  return routing;
}

// --------------------------------------------------------------------------------- views

nlohmann::json Supervisor::InstancesJson(const std::string& endpoint,
                                         const std::string& deployment) const {
  absl::MutexLock lock(&mu_);
  nlohmann::json list = nlohmann::json::array();
  auto it = deployments_.find(endpoint + "/" + deployment);
  if (it == deployments_.end()) return list;
  for (const auto& [id, i] : it->second->instances) {
    nlohmann::json view = {{"id", id},
                           {"state", InstancePhaseName(i.phase)},
                           {"port", i.endpoints.port},
                           {"grpc_port", i.endpoints.grpc_port},
                           {"restarts", i.total_restarts},
                           {"current", i.template_hash == it->second->template_hash}};
    // Where berthd reaches it (admin view: only berthd's user may open these sockets).
    if (!i.endpoints.http_socket.empty()) view["http_socket"] = i.endpoints.http_socket;
    if (!i.endpoints.grpc_socket.empty()) view["grpc_socket"] = i.endpoints.grpc_socket;
    if (!i.endpoints.runner_sockets.empty()) {
      view["runner_sockets"] = i.endpoints.runner_sockets;
      view["runner_control_socket"] = i.endpoints.runner_control_socket;
    }
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

nlohmann::json Supervisor::LiveJson(const std::string& endpoint,
                                    const std::string& deployment) const {
  gateway::DeploymentLoad load = routes_.Load(endpoint, deployment);
  absl::MutexLock lock(&mu_);
  auto it = deployments_.find(endpoint + "/" + deployment);
  if (it == deployments_.end()) return nlohmann::json::object();
  const Deployment& d = *it->second;
  int ready = 0;
  int live = 0;
  for (const auto& [id, i] : d.instances) {
    if (i.phase == InstancePhase::kReady) ++ready;
    if (i.phase != InstancePhase::kExited) ++live;
  }
  nlohmann::json decisions = nlohmann::json::array();
  for (const ScaleEvent& e : d.scale_events) {
    decisions.push_back({{"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(e.at),
                                                   absl::UTCTimeZone())},
                         {"from", e.from},
                         {"to", e.to},
                         {"reason", e.reason}});
  }
  return {{"desired_instances", d.desired},
          {"ready_instances", ready},
          {"live_instances", live},
          {"scaled_to_zero", d.autoscaler.has_value() && d.desired == 0 && live == 0},
          {"requests_in_flight", load.running},
          {"requests_queued", load.waiting},
          {"requests_total", load.arrivals},
          {"scale_decisions", std::move(decisions)}};
}

std::optional<fs::path> Supervisor::LogFile(const std::string& endpoint,
                                            const std::string& deployment, int64_t instance) const {
  // Logs outlive instance records (a failed rollout, a restarted berthd): read them from disk.
  fs::path dir = InstancesDir() / endpoint / deployment;
  if (instance == 0) instance = HighestInstanceDir(dir);
  if (instance <= 0) return std::nullopt;
  fs::path file = dir / std::to_string(instance) / "logs" / core::kInferenceServerLog;
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  return file;
}

}  // namespace berth::controlplane
