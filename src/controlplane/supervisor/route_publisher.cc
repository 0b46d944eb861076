#include "controlplane/supervisor/route_publisher.h"

namespace berth::controlplane {

bool RoutePublisher::Publish(const Builder& build) {
  if (changed_.empty()) return false;
  auto next = std::make_shared<gateway::RoutingSnapshot>();
  next->version = current_->version + 1;
  next->endpoints = current_->endpoints;  // shares the unchanged endpoints' routing
  for (const std::string& name : changed_) {
    std::string key = gateway::NameKey(name);
    if (auto routing = build(name)) {
      next->endpoints[key] = std::move(routing);
    } else {
      next->endpoints.erase(key);
    }
  }
  changed_.clear();
  current_ = std::move(next);
  sink_.Publish(current_);
  return true;
}

}  // namespace berth::controlplane
