#pragma once
// Admission: Azure's per-deployment concurrency rule as a pure state machine.
//
// At most `max_concurrent_requests_per_instance × ready instances` requests run at once; the
// rest wait in FIFO order; beyond twice that many admitted-or-waiting requests a new one is
// rejected at once (429); a waiter whose `max_queue_wait_ms` passes is expired (429). While no
// instance is ready but one is expected, requests wait for it (AdmissionLimits).
// Time comes from the injected Clock. Not thread-safe: AdmissionGate serialises access.

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "common/clock.h"

namespace berth::gateway {

struct AdmissionLimits {
  int max_concurrent_per_instance = 1;
  int ready_instances = 0;
  std::chrono::milliseconds max_queue_wait{500};
  // No instance is ready but one is expected (starting from zero, restarting): requests wait
  // for it, as many as one instance would take (2 x max_concurrent_per_instance), each for
  // `max_queue_wait` (the caller passes what is left of the request's timeout).
  bool waiting_for_instance = false;

  int running_limit() const { return max_concurrent_per_instance * ready_instances; }
  int total_limit() const {
    return 2 * max_concurrent_per_instance * (waiting_for_instance ? 1 : ready_instances);
  }
};

class Admission {
 public:
  explicit Admission(const Clock& clock) : clock_(clock) {}

  enum class Outcome { kAdmitted, kQueued, kRejected };
  struct Arrival {
    Outcome outcome;
    uint64_t ticket = 0;  // set when queued
    SteadyTime deadline;  // when a queued request expires
  };

  Arrival Arrive(const AdmissionLimits& limits);

  // A running request finished. Returns the waiters admitted in its place (at most one unless
  // the limits grew).
  std::vector<uint64_t> Finish(const AdmissionLimits& limits);

  // Admits waiters that fit under (possibly larger) limits.
  std::vector<uint64_t> Rebalance(const AdmissionLimits& limits);

  // Removes and returns waiters whose deadline has passed.
  std::vector<uint64_t> ExpireWaiters();

  // Removes a waiter that gives up. False if it is not waiting (it was admitted already).
  bool Abandon(uint64_t ticket);

  int running() const { return running_; }
  int waiting() const { return static_cast<int>(queue_.size()); }

 private:
  struct Waiter {
    uint64_t ticket;
    SteadyTime deadline;
  };
  const Clock& clock_;
  int running_ = 0;
  uint64_t next_ticket_ = 1;
  std::deque<Waiter> queue_;
};

}  // namespace berth::gateway
