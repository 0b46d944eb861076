#pragma once
// RoutePublisher: turns the supervisor's view into RoutingSnapshots for the data plane, one
// endpoint at a time. The supervisor marks the endpoints whose routing may have changed
// (declared state, instance readiness); Publish() rebuilds only those and hands the sink a
// snapshot that shares every other endpoint's EndpointRouting with the previous one. Nothing
// is published when nothing was marked.
//
// Threading: not thread-safe; the supervisor calls it under its own lock. Publish() calls the
// sink, which never blocks (gateway/route_snapshot.h).

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "gateway/route_snapshot.h"

namespace berth::controlplane {

class RoutePublisher {
 public:
  // Builds the routing of endpoint `name` (as written); nullptr when it is not routed (absent,
  // being deleted).
  using Builder =
      std::function<std::shared_ptr<const gateway::EndpointRouting>(const std::string& name)>;

  explicit RoutePublisher(gateway::RoutingSink& sink) : sink_(sink) {}

  // The routing of endpoint `name` may have changed.
  void MarkChanged(const std::string& name) { changed_.insert(name); }
  bool HasChanges() const { return !changed_.empty(); }

  // Rebuilds the marked endpoints with `build` and publishes; returns whether it published.
  bool Publish(const Builder& build);

  // The last snapshot published (an empty one before any).
  std::shared_ptr<const gateway::RoutingSnapshot> Current() const { return current_; }

 private:
  gateway::RoutingSink& sink_;
  std::set<std::string> changed_;
  std::shared_ptr<const gateway::RoutingSnapshot> current_ =
      std::make_shared<gateway::RoutingSnapshot>();
};

}  // namespace berth::controlplane
