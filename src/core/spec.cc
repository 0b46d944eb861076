#include "core/spec.h"

#include <algorithm>

#include "absl/strings/match.h"

namespace berth::core {

bool SameName(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()),
                                absl::string_view(b.data(), b.size()));
}

std::map<std::string, int> TrafficByDeploymentName(const std::map<std::string, int>& traffic,
                                                   const std::vector<std::string>& names) {
  std::map<std::string, int> out;
  for (const auto& [key, percent] : traffic) {
    std::string name = key;
    for (const std::string& candidate : names) {
      if (SameName(key, candidate)) {
        name = candidate;
        break;
      }
    }
    out[name] = percent;
  }
  return out;
}

const char* AuthModeName(AuthMode mode) {
  switch (mode) {
    case AuthMode::kKey:
      return "key";
    case AuthMode::kAmlToken:
      return "aml_token";
  }
  return "key";
}

const char* ProvisioningStateName(ProvisioningState state) {
  switch (state) {
    case ProvisioningState::kCreating:
      return "Creating";
    case ProvisioningState::kUpdating:
      return "Updating";
    case ProvisioningState::kSucceeded:
      return "Succeeded";
    case ProvisioningState::kFailed:
      return "Failed";
    case ProvisioningState::kDeleting:
      return "Deleting";
  }
  return "Failed";
}

std::optional<ProvisioningState> ParseProvisioningState(const std::string& name) {
  for (ProvisioningState state :
       {ProvisioningState::kCreating, ProvisioningState::kUpdating, ProvisioningState::kSucceeded,
        ProvisioningState::kFailed, ProvisioningState::kDeleting}) {
    if (name == ProvisioningStateName(state)) return state;
  }
  return std::nullopt;
}

bool IsOperationRunning(ProvisioningState state) {
  return state == ProvisioningState::kCreating || state == ProvisioningState::kUpdating ||
         state == ProvisioningState::kDeleting;
}

ServingRoutes RoutesFor(const DeploymentSpec& spec) {
  ServingRoutes routes;
  if (ServingKindOf(spec) == ServingKind::kTritonModel) {
    routes.liveness_path = "/v2/health/live";
    routes.readiness_path = "/v2/health/ready";
  }
  if (const auto& config = spec.environment.inference_config; config.has_value()) {
    routes.liveness_path = config->liveness_route.path;
    routes.readiness_path = config->readiness_route.path;
    routes.scoring_path = config->scoring_route.path;
  }
  return routes;
}

int ScaleSettings::ScaleDownDelaySeconds() const {
  return scale_down_delay_s > 0 ? scale_down_delay_s : 20 * polling_interval_s;
}

int InitialInstances(const DeploymentSpec& spec) {
  const ScaleSettings& scale = spec.scale_settings;
  if (scale.type == ScaleType::kDefault) return spec.instance_count;
  return std::min(std::max(1, scale.min_instances), scale.max_instances);
}

RequestSettings EffectiveRequestSettings(const DeploymentSpec& spec, bool native) {
  RequestSettings settings = spec.request_settings;
  if (native && !settings.max_concurrent_given) {
    settings.max_concurrent_requests_per_instance = kWorkerDefaultConcurrency;
  }
  return settings;
}

ServingKind ServingKindOf(const DeploymentSpec& spec) {
  if (!spec.environment.command.empty()) return ServingKind::kCustomCommand;
  if (spec.code_configuration.has_value()) return ServingKind::kScoringScript;
  if (spec.model.has_value() && spec.model->type == "triton_model") {
    return ServingKind::kTritonModel;
  }
  return ServingKind::kMlflow;
}

}  // namespace berth::core
