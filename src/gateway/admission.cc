#include "gateway/admission.h"

#include <algorithm>

namespace berth::gateway {

Admission::Arrival Admission::Arrive(const AdmissionLimits& limits) {
  if (queue_.empty() && running_ < limits.running_limit()) {
    ++running_;
    return {Outcome::kAdmitted};
  }
  if (running_ + waiting() >= limits.total_limit()) return {Outcome::kRejected};
  Waiter waiter{next_ticket_++, clock_.Now() + limits.max_queue_wait};
  queue_.push_back(waiter);
  return {Outcome::kQueued, waiter.ticket, waiter.deadline};
}

std::vector<uint64_t> Admission::Finish(const AdmissionLimits& limits) {
  if (running_ > 0) --running_;
  return Rebalance(limits);
}

std::vector<uint64_t> Admission::Rebalance(const AdmissionLimits& limits) {
  std::vector<uint64_t> admitted;
  SteadyTime now = clock_.Now();
  while (!queue_.empty() && running_ < limits.running_limit()) {
    Waiter waiter = queue_.front();
    queue_.pop_front();
    if (waiter.deadline <= now) continue;  // expired; its own timer reports it
    ++running_;
    admitted.push_back(waiter.ticket);
  }
  return admitted;
}

std::vector<uint64_t> Admission::ExpireWaiters() {
  std::vector<uint64_t> expired;
  SteadyTime now = clock_.Now();
  std::erase_if(queue_, [&](const Waiter& w) {
    if (w.deadline > now) return false;
    expired.push_back(w.ticket);
    return true;
  });
  return expired;
}

bool Admission::Abandon(uint64_t ticket) {
  auto it = std::find_if(queue_.begin(), queue_.end(),
                         [&](const Waiter& w) { return w.ticket == ticket; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

}  // namespace berth::gateway
