#include "controlplane/autoscaler.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::controlplane {
namespace {

// "20 s", "1.5 s".
std::string Seconds(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return absl::StrCat(duration.count() / 1000, " s");
  return absl::StrFormat("%.1f s", static_cast<double>(duration.count()) / 1000);
}

std::string Instances(int count) {
  return absl::StrCat(count, count == 1 ? " instance" : " instances");
}

std::string Transition(int from, int to) { return absl::StrCat(from, " -> ", Instances(to)); }

}  // namespace

AutoscalePolicy AutoscalePolicy::From(const core::ScaleSettings& settings,
                                      int max_concurrent_per_instance) {
  AutoscalePolicy policy;
  policy.min_instances = settings.min_instances;
  policy.max_instances = std::max(1, settings.max_instances);
  policy.target_utilization_percentage = settings.target_utilization_percentage;
  policy.polling_interval = std::chrono::seconds(settings.polling_interval_s);
  policy.scale_down_delay = std::chrono::seconds(settings.ScaleDownDelaySeconds());
  policy.max_concurrent_per_instance = std::max(1, max_concurrent_per_instance);
  return policy;
}

Autoscaler::Autoscaler(AutoscalePolicy policy, int initial, SteadyTime now)
    : policy_(std::move(policy)), last_observed_(now), window_start_(now) {
  desired_ = Clamp(initial);
}

int Autoscaler::Clamp(int instances) const {
  return std::clamp(instances, policy_.min_instances,
                    std::max(policy_.min_instances, policy_.max_instances));
}

int Autoscaler::Recommend(const LoadSample& sample) const {
  const int64_t load = static_cast<int64_t>(sample.running) + sample.waiting;
  // Instances needed so that load / (instances x per-instance concurrency) <= target%, in
  // integers: ceil(load x 100 / (concurrency x target)).
  const int64_t capacity_per_instance_x100 =
      static_cast<int64_t>(policy_.max_concurrent_per_instance) *
      std::max(1, policy_.target_utilization_percentage);
  int64_t needed = (load * 100 + capacity_per_instance_x100 - 1) / capacity_per_instance_x100;
  if (sample.arrivals > 0) needed = std::max<int64_t>(needed, 1);
  return Clamp(static_cast<int>(std::min<int64_t>(needed, policy_.max_instances)));
}

ScaleDecision Autoscaler::SetPolicy(AutoscalePolicy policy, SteadyTime now) {
  policy_ = std::move(policy);
  ScaleDecision decision{desired_, false, ""};
  const int from = desired_;
  if (desired_ < policy_.min_instances) {
    desired_ = policy_.min_instances;
    window_start_ = now;
    decision.reason =
        absl::StrCat("min_instances is ", policy_.min_instances, ": ", Transition(from, desired_));
  } else if (desired_ > policy_.max_instances) {
    desired_ = Clamp(policy_.max_instances);
    decision.reason =
        absl::StrCat("max_instances is ", policy_.max_instances, ": ", Transition(from, desired_));
  }
  // Older recommendations were made under the old bounds.
  for (Recommendation& r : recent_) r.instances = Clamp(r.instances);
  decision.desired = desired_;
  decision.changed = desired_ != from;
  return decision;
}

bool Autoscaler::Due(SteadyTime now) const {
  return now - last_observed_ >= policy_.polling_interval;
}

ScaleDecision Autoscaler::Observe(const LoadSample& sample, SteadyTime now) {
  last_observed_ = now;
  const int recommendation = Recommend(sample);
  recent_.push_back({now, recommendation});
  while (!recent_.empty() && recent_.front().at < now - policy_.scale_down_delay) {
    recent_.pop_front();
  }

  const int from = desired_;
  ScaleDecision decision{desired_, false, ""};
  if (recommendation > desired_) {
    desired_ = recommendation;
    window_start_ = now;
    const int64_t load = static_cast<int64_t>(sample.running) + sample.waiting;
    const std::string load_text =
        absl::StrCat("in flight ", sample.running, " + queued ", sample.waiting);
    if (from == 0) {
      decision.reason =
          load > 0 ? absl::StrCat("load ", load, " (", load_text,
                                  ") while scaled to zero: ", Transition(from, desired_))
                   : absl::StrCat(sample.arrivals, " request", sample.arrivals == 1 ? "" : "s",
                                  " arrived while scaled to zero: ", Transition(from, desired_));
    } else {
      const int64_t capacity = static_cast<int64_t>(from) * policy_.max_concurrent_per_instance;
      const int64_t utilization = (load * 100 + capacity / 2) / capacity;
      decision.reason =
          absl::StrCat("utilization ", utilization, "% (", load_text, " over ", Instances(from),
                       " x ", policy_.max_concurrent_per_instance, ") above target ",
                       policy_.target_utilization_percentage, "%: ", Transition(from, desired_));
    }
  } else if (recommendation < desired_ && now - window_start_ >= policy_.scale_down_delay) {
    int highest = 0;
    for (const Recommendation& r : recent_) highest = std::max(highest, r.instances);
    if (highest < desired_) {
      desired_ = highest;
      decision.reason =
          desired_ == 0 ? absl::StrCat("idle for ", Seconds(policy_.scale_down_delay),
                                       ": scaled to zero (", Transition(from, 0), ")")
                        : absl::StrCat("load below target for ", Seconds(policy_.scale_down_delay),
                                       ": ", Transition(from, desired_));
    }
  }
  decision.desired = desired_;
  decision.changed = desired_ != from;
  return decision;
}

ScaleDecision Autoscaler::Wake(SteadyTime now) {
  if (desired_ > 0) return {desired_, false, ""};
  desired_ = 1;
  window_start_ = now;
  recent_.push_back({now, 1});
  return {desired_, true,
          absl::StrCat("a request arrived while scaled to zero: ", Transition(0, 1))};
}

}  // namespace berth::controlplane
