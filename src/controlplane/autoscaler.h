#pragma once
// Autoscaler: the pure decision logic of `scale_settings.type: target_utilization`
// (docs/yaml.md, "Autoscaling"). The supervisor samples a deployment's load every
// polling_interval and feeds it here; the answer is how many instances it should have, and why.
//
// Rules, after Azure's azureml-fe (add replicas eagerly, remove them conservatively):
// - load = requests in flight + requests queued at admission; the recommendation is
//   ceil(load / (max_concurrent_per_instance x target% / 100)), at least 1 when requests arrived
//   since the previous sample, clamped to [min_instances, max_instances].
// - Scale-up is immediate. Scale-down is stabilised: desired goes down to the highest
//   recommendation of the last scale_down_delay, and only once scale_down_delay has passed since
//   the last scale-up (or the start). So flapping load never scales down, and scaling to zero
//   needs min_instances 0 and neither load nor arrivals for the whole delay.
// - Wake: a request waiting while desired is 0 brings it to 1 at once, without waiting for the
//   next sample.
//
// Not thread-safe: one owner (the supervisor's strand) calls it. No clock reads: time is an
// argument, so tests drive it with made-up times.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

#include "common/clock.h"
#include "core/spec.h"

namespace berth::controlplane {

struct AutoscalePolicy {
  int min_instances = 1;
  int max_instances = 1;
  int target_utilization_percentage = 70;
  std::chrono::milliseconds polling_interval{1000};
  std::chrono::milliseconds scale_down_delay{20000};
  int max_concurrent_per_instance = 1;

  // The policy of a deployment's scale_settings (scale_down_delay resolved: 0 means 20 x
  // polling_interval) and its effective max_concurrent_requests_per_instance.
  static AutoscalePolicy From(const core::ScaleSettings& settings, int max_concurrent_per_instance);
  bool operator==(const AutoscalePolicy&) const = default;
};

// One sample of a deployment's load.
struct LoadSample {
  int running = 0;        // admitted, in flight on an instance
  int waiting = 0;        // queued at admission, including requests waiting for a cold start
  uint64_t arrivals = 0;  // requests routed to the deployment since the previous sample
};

struct ScaleDecision {
  int desired = 0;       // the instance count to have
  bool changed = false;  // desired differs from before this call
  std::string reason;    // a sentence with the numbers when changed, else ""
};

class Autoscaler {
 public:
  // `initial` is the instance count the deployment has now (clamped to the policy's bounds);
  // `now` starts the first scale-down window.
  Autoscaler(AutoscalePolicy policy, int initial, SteadyTime now);

  // After an update of the deployment. New bounds apply at once: a raised min_instances scales
  // up, a lowered max_instances scales down, each a decision with its reason.
  ScaleDecision SetPolicy(AutoscalePolicy policy, SteadyTime now);

  // True once a polling_interval has passed since the last Observe (or the construction).
  bool Due(SteadyTime now) const;

  // Takes one sample and decides.
  ScaleDecision Observe(const LoadSample& sample, SteadyTime now);

  // A request is waiting and desired is 0: go to 1 at once (no change when desired > 0).
  ScaleDecision Wake(SteadyTime now);

  int desired() const { return desired_; }
  const AutoscalePolicy& policy() const { return policy_; }

 private:
  struct Recommendation {
    SteadyTime at;
    int instances = 0;
  };

  int Recommend(const LoadSample& sample) const;
  int Clamp(int instances) const;

  AutoscalePolicy policy_;
  int desired_ = 0;
  SteadyTime last_observed_;
  // When desired last went up (or the autoscaler started): scale-down waits a full
  // scale_down_delay from here.
  SteadyTime window_start_;
  std::deque<Recommendation> recent_;  // the last scale_down_delay of recommendations, oldest first
};

}  // namespace berth::controlplane
