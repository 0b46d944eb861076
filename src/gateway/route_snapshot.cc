#include "gateway/route_snapshot.h"

#include "absl/strings/ascii.h"

namespace berth::gateway {

std::string NameKey(std::string_view name) {
  std::string key(name);
  absl::AsciiStrToLower(&key);  // this absl has no string_view overload
  return key;
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
