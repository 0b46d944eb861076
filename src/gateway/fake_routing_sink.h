#pragma once
// FakeRoutingSink: a RoutingSink for control-plane tests. Keeps every published snapshot and
// answers InFlight() and Load() from values the test sets. Thread-safe.

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gateway/route_snapshot.h"

namespace berth::gateway {

class FakeRoutingSink final : public RoutingSink {
 public:
  void Publish(std::shared_ptr<const RoutingSnapshot> snapshot) override {
    absl::MutexLock lock(&mu_);
    published_.push_back(std::move(snapshot));
  }
  int InFlight(std::string_view endpoint, std::string_view deployment,
               int64_t instance_id) const override {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find({NameKey(endpoint), NameKey(deployment), instance_id});
    return it == in_flight_.end() ? 0 : it->second;
  }

  DeploymentLoad Load(std::string_view endpoint, std::string_view deployment) const override {
    absl::MutexLock lock(&mu_);
    auto it = load_.find({NameKey(endpoint), NameKey(deployment)});
    return it == load_.end() ? DeploymentLoad{} : it->second;
  }
  void SetLoad(std::string_view endpoint, std::string_view deployment, DeploymentLoad load) {
    absl::MutexLock lock(&mu_);
    load_[{NameKey(endpoint), NameKey(deployment)}] = load;
  }

  void SetInFlight(std::string_view endpoint, std::string_view deployment, int64_t instance_id,
                   int count) {
    absl::MutexLock lock(&mu_);
    in_flight_[{NameKey(endpoint), NameKey(deployment), instance_id}] = count;
  }
  // The last snapshot published (an empty one before any).
  std::shared_ptr<const RoutingSnapshot> Last() const {
    absl::MutexLock lock(&mu_);
    return published_.empty() ? std::make_shared<RoutingSnapshot>() : published_.back();
  }
  size_t PublishCount() const {
    absl::MutexLock lock(&mu_);
    return published_.size();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<const RoutingSnapshot>> published_ ABSL_GUARDED_BY(mu_);
  std::map<std::tuple<std::string, std::string, int64_t>, int> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, DeploymentLoad> load_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway
