#pragma once
// Waiting for a long-running write: berthd answers at once with `provisioning_state` and the CLI
// polls GET until the state is final (docs/api.md) or, for deletes, until the resource is gone.
// Progress goes to stderr: one line rewritten in place on a terminal, otherwise one line per
// state change.

#include <chrono>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

inline constexpr std::chrono::milliseconds kPollInterval{250};
inline constexpr std::chrono::seconds kDefaultWaitTimeout{600};

struct WaitSpec {
  std::string action;  // "Creating", "Updating", "Deleting": the progress line's first word
  std::string kind;    // "endpoint" or "deployment"
  std::string name;
  bool until_gone = false;  // delete: wait for NOT_FOUND instead of a final state
  std::chrono::seconds timeout = kDefaultWaitTimeout;
  std::string show_command;  // suggested on timeout, e.g. "berth online-endpoint show -n e"
};

struct WaitEnv {
  const Clock* clock = &SystemClock::Get();
  std::function<void(std::chrono::milliseconds)> sleep;  // required
  std::chrono::milliseconds interval = kPollInterval;
  std::ostream* progress = nullptr;  // null: silent
  bool live = false;                 // rewrite one line with '\r' (stderr is a terminal)
};

// One GET of the resource.
using PollFn = std::function<absl::StatusOr<nlohmann::json>()>;

// Polls until done. Returns the resource in state Succeeded, or null when `until_gone` and it
// is gone. A Failed resource is FAILED_PRECONDITION with its `reason`; running out of time is
// DEADLINE_EXCEEDED. UNAVAILABLE answers (berthd restarting) are retried until the deadline;
// other errors end the wait.
absl::StatusOr<nlohmann::json> WaitForResource(const PollFn& poll, const WaitSpec& spec,
                                               const WaitEnv& env);

}  // namespace berth::cli
