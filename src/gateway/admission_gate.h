#pragma once
// AdmissionGate: the coroutine face of Admission. Enter() suspends a queued request on a timer
// until a slot frees (admitted) or its queue wait runs out (429).
// Thread-safety: all methods may be called from any thread; a waiter is woken on its own
// executor.

#include <functional>
#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "gateway/admission.h"
#include "http/asio.h"

namespace berth::gateway {

class AdmissionGate {
 public:
  explicit AdmissionGate(const Clock& clock) : admission_(clock) {}

  // OK once admitted (the caller must Leave() exactly once); RESOURCE_EXHAUSTED when rejected
  // at once or when the queue wait ran out; UNAVAILABLE when it waited for an instance
  // (limits.waiting_for_instance) and none became ready in time.
  http::Awaitable<absl::Status> Enter(AdmissionLimits limits);
  // The same, with the limits read under the gate's lock: a caller whose limits may grow
  // meanwhile (a publish followed by Rebalance) either sees the new ones or is woken by that
  // Rebalance, never neither.
  http::Awaitable<absl::Status> Enter(std::function<AdmissionLimits()> limits_now);
  void Leave(const AdmissionLimits& limits);
  // (The two Enter forms share this one.)
  http::Awaitable<absl::Status> Enter(AdmissionLimits limits,
                                      std::function<AdmissionLimits()> limits_now);
  // Admits waiters that fit after the number of ready instances grew.
  void Rebalance(const AdmissionLimits& limits);

  int running() const;
  int waiting() const;

 private:
  struct Waiter {
    std::shared_ptr<http::asio::steady_timer> timer;
    bool granted = false;
  };
  void WakeLocked(const std::vector<uint64_t>& tickets) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  Admission admission_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::gateway
