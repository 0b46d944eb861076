#pragma once
// Reconcile: the pure decision step of the control plane. Given what a deployment should be
// and what its instances are doing, it returns the actions that move one toward the other.
// No I/O, no clock reads (time is an argument): Supervisor carries the actions out.
//
// Rules (docs/architecture.md, "Instances"):
// - `template` identifies how instances are launched (command, env, code, model). A change of
//   template is rolled out gradually, like Kubernetes' RollingUpdate with maxUnavailable 0:
//   at most instance_count + max_surge instances are live (neither stopping nor exited) across
//   both templates; new-template instances start within that budget, and each time some become
//   Ready, old-template instances are stopped so that Ready new + live old stays at least
//   instance_count (old starting/unready ones go before Ready ones). A change of instance_count
//   alone only scales: it never replaces instances.
// - instance_count may be 0 (scaled to zero): every instance is stopped, nothing is marked
//   Failed, and a rollout counts as done. The supervisor passes at least 1 while a create or
//   update must prove that the template starts.
// - Before the deployment first succeeds with the current template, an instance that exits or
//   is not ready by its startup deadline fails the deployment: the new template's instances
//   stop, the old template's keep serving as they are (Failed applies no instance_count, so
//   a Failed deployment should not be autoscaled: its old instances could not be started again).
// - After that, an exited instance is restarted with exponential backoff.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/spec.h"

namespace berth::controlplane {

enum class InstancePhase {
  kStarting,  // process running, readiness not yet passed
  kReady,     // passing readiness; receives traffic
  kUnready,   // was ready, now failing readiness; no traffic
  kStopping,  // asked to stop (draining or terminating)
  kExited,    // process gone
};
const char* InstancePhaseName(InstancePhase phase);

struct ObservedInstance {
  int64_t id = 0;
  std::string template_hash;
  InstancePhase phase = InstancePhase::kStarting;
  bool ever_ready = false;
  SteadyTime started_at;
  SteadyTime exited_at;  // when phase == kExited
  int exit_code = -1;
  int exit_signal = 0;
  int restarts = 0;        // consecutive restarts since it was last ready
  std::string exit_limit;  // the resource limit that ended it ("memory limit (cgroup)"), or ""
};

struct DesiredDeployment {
  std::string template_hash;
  int instance_count = 1;
  core::ProvisioningState state = core::ProvisioningState::kCreating;
  // How long a new instance may take to become ready (readiness initial_delay + period ×
  // failure_threshold).
  std::chrono::milliseconds startup_timeout{310000};
  // How many instances a rolling update may run above instance_count (values below 1 count as
  // 1, else a full deployment could never start a new instance). Azure replaces 20% of the
  // instances at a time: DefaultMaxSurge.
  int max_surge = 1;
};

// max(1, ceil(20% of instance_count)): Azure's managed rolling update replaces 20% at a time.
int DefaultMaxSurge(int instance_count);

struct Action {
  enum class Kind {
    kStart,          // launch a new instance of the current template
    kRestart,        // relaunch exited instance `instance_id` in place
    kStop,           // drain and stop instance `instance_id`
    kForget,         // drop the record of exited instance `instance_id`
    kMarkSucceeded,  // the deployment reached its desired state
    kMarkFailed,     // the current template cannot start: `reason`
    kRemove,         // a deleting deployment has no instance left: delete its record
  };
  Kind kind;
  int64_t instance_id = 0;
  std::string reason;
  bool operator==(const Action&) const = default;
};

// Backoff before restart number `restarts` (0-based): 0.5 s doubling up to 30 s.
std::chrono::milliseconds RestartBackoff(int restarts);

std::vector<Action> Reconcile(const DesiredDeployment& desired,
                              const std::vector<ObservedInstance>& observed, SteadyTime now);

}  // namespace berth::controlplane
