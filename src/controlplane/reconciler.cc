#include "controlplane/reconciler.h"

#include <algorithm>

namespace berth::controlplane {

using core::ProvisioningState;
using Kind = Action::Kind;

const char* InstancePhaseName(InstancePhase phase) {
  switch (phase) {
    case InstancePhase::kStarting:
      return "Starting";
    case InstancePhase::kReady:
      return "Ready";
    case InstancePhase::kUnready:
      return "Unready";
    case InstancePhase::kStopping:
      return "Stopping";
    case InstancePhase::kExited:
      return "Exited";
  }
  return "Unknown";
}

std::chrono::milliseconds RestartBackoff(int restarts) {
  int64_t ms = 500;
  for (int i = 0; i < restarts && ms < 30000; ++i) ms *= 2;
  return std::chrono::milliseconds(std::min<int64_t>(ms, 30000));
}

namespace {

std::string ExitText(const ObservedInstance& i) {
  if (!i.exit_limit.empty()) {
    return "was stopped by its " + i.exit_limit + " (resources.limits)";
  }
  if (i.exit_signal != 0) return "was killed by signal " + std::to_string(i.exit_signal);
  return "exited with code " + std::to_string(i.exit_code);
}

// Which instances to stop first: exited (nothing to lose), then starting or unready (serving
// nothing), then ready.
int StopRank(const ObservedInstance& i) {
  switch (i.phase) {
    case InstancePhase::kExited:
      return 0;
    case InstancePhase::kStarting:
    case InstancePhase::kUnready:
      return 1;
    default:
      return 2;
  }
}

// Orders instances for stopping: by StopRank, then newest first.
bool StopsFirst(const ObservedInstance* a, const ObservedInstance* b) {
  if (StopRank(*a) != StopRank(*b)) return StopRank(*a) < StopRank(*b);
  return a->id > b->id;
}

}  // namespace

int DefaultMaxSurge(int instance_count) {
  return std::max(1, (std::max(0, instance_count) + 4) / 5);
}

std::vector<Action> Reconcile(const DesiredDeployment& desired,
                              const std::vector<ObservedInstance>& observed, SteadyTime now) {
  std::vector<Action> actions;
  const bool deleting = desired.state == ProvisioningState::kDeleting;
  const bool failed = desired.state == ProvisioningState::kFailed;
  const bool rolling_out = desired.state == ProvisioningState::kCreating ||
                           desired.state == ProvisioningState::kUpdating;

  if (deleting) {
    bool any_left = false;
    for (const auto& i : observed) {
      if (i.phase == InstancePhase::kExited) {
        actions.push_back({Kind::kForget, i.id});
      } else {
        any_left = true;
        if (i.phase != InstancePhase::kStopping) actions.push_back({Kind::kStop, i.id});
      }
    }
    if (!any_left) actions.push_back({Kind::kRemove});
    return actions;
  }

  std::vector<const ObservedInstance*> current;
  for (const auto& i : observed) {
    if (i.template_hash == desired.template_hash) {
      current.push_back(&i);
    } else if (i.phase == InstancePhase::kExited) {
      actions.push_back({Kind::kForget, i.id});  // old template: never restarted
    }
  }

  if (failed) {
    // Leave old-template instances serving; stop the template that failed, keeping the records
    // of exited instances so their logs stay reachable until the next update.
    for (const auto* i : current) {
      if (i->phase != InstancePhase::kExited && i->phase != InstancePhase::kStopping) {
        actions.push_back({Kind::kStop, i->id});
      }
    }
    return actions;
  }

  const int count = std::max(0, desired.instance_count);

  // A rollout fails on the first instance of the new template that dies or never gets ready.
  // Scaled to zero, everything stops anyway: nothing fails.
  if (rolling_out && count > 0) {
    for (const auto* i : current) {
      if (i->ever_ready) continue;
      std::string reason;
      if (i->phase == InstancePhase::kExited) {
        reason = "instance " + std::to_string(i->id) + " " + ExitText(*i) + " before it was ready";
      } else if (i->phase == InstancePhase::kStarting &&
                 now - i->started_at > desired.startup_timeout) {
        reason = "instance " + std::to_string(i->id) + " was not ready after " +
                 std::to_string(desired.startup_timeout.count() / 1000) +
                 " s (readiness_probe initial_delay + period x failure_threshold)";
      }
      if (!reason.empty()) {
        actions.push_back({Kind::kMarkFailed, i->id, reason});
        for (const auto* j : current) {
          if (j->phase != InstancePhase::kExited && j->phase != InstancePhase::kStopping) {
            actions.push_back({Kind::kStop, j->id});
          }
        }
        return actions;
      }
    }
  }

  // Current template: each instance not stopping holds a slot (an exited one until it is
  // restarted). Stop the surplus, then restart exited instances after their backoff.
  int slots = 0;
  int ready_new = 0;
  std::vector<const ObservedInstance*> slot_holders;
  for (const auto* i : current) {
    if (i->phase == InstancePhase::kStopping) continue;
    ++slots;
    if (i->phase == InstancePhase::kReady) ++ready_new;
    slot_holders.push_back(i);
  }
  const int surplus = slots - count;
  if (surplus > 0) {
    std::sort(slot_holders.begin(), slot_holders.end(), StopsFirst);
    for (int k = 0; k < surplus; ++k) {
      const auto* i = slot_holders[k];
      if (i->phase == InstancePhase::kReady) --ready_new;
      actions.push_back({i->phase == InstancePhase::kExited ? Kind::kForget : Kind::kStop, i->id});
      slot_holders[k] = nullptr;
    }
    slots = count;
  }
  for (const auto* i : slot_holders) {
    if (i == nullptr || i->phase != InstancePhase::kExited) continue;
    if (now >= i->exited_at + RestartBackoff(i->restarts)) {
      actions.push_back({Kind::kRestart, i->id});
    }
  }

  // Older templates: keep live only as many as Ready new instances do not yet replace.
  std::vector<const ObservedInstance*> old_live;
  for (const auto& i : observed) {
    if (i.template_hash != desired.template_hash && i.phase != InstancePhase::kExited &&
        i.phase != InstancePhase::kStopping) {
      old_live.push_back(&i);
    }
  }
  const int keep_old = std::max(0, count - ready_new);
  std::sort(old_live.begin(), old_live.end(), StopsFirst);
  int old_kept = static_cast<int>(old_live.size());
  for (size_t k = 0; old_kept > keep_old; ++k, --old_kept) {
    actions.push_back({Kind::kStop, old_live[k]->id});
  }

  // Start new instances within the surge budget.
  const int budget = count + std::max(1, desired.max_surge) - slots - old_kept;
  const int to_start = std::min(count - slots, budget);
  for (int k = 0; k < to_start; ++k) actions.push_back({Kind::kStart});

  if (ready_new >= count && rolling_out) actions.push_back({Kind::kMarkSucceeded});
  return actions;
}

}  // namespace berth::controlplane
