#include "gateway/route_snapshot.h"

#include "absl/strings/ascii.h"

namespace berth::gateway {

std::string NameKey(std::string_view name) {
  return absl::AsciiStrToLower(absl::string_view(name.data(), name.size()));
}

const std::shared_ptr<const DeploymentRouting>* EndpointRouting::FindDeployment(
    std::string_view name) const {
  auto it = deployments.find(NameKey(name));
  return it == deployments.end() ? nullptr : &it->second;
}

const EndpointRouting* RoutingSnapshot::FindEndpoint(std::string_view name) const {
  auto it = endpoints.find(NameKey(name));
  return it == endpoints.end() ? nullptr : it->second.get();
}

}  // namespace berth::gateway
