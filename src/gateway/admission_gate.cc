#include "gateway/admission_gate.h"

namespace berth::gateway {

namespace asio = http::asio;

http::Awaitable<absl::Status> AdmissionGate::Enter(AdmissionLimits limits) {
  return Enter(limits, nullptr);
}

http::Awaitable<absl::Status> AdmissionGate::Enter(std::function<AdmissionLimits()> limits_now) {
  return Enter(AdmissionLimits{}, std::move(limits_now));
}

http::Awaitable<absl::Status> AdmissionGate::Enter(AdmissionLimits limits,
                                                   std::function<AdmissionLimits()> limits_now) {
  std::shared_ptr<Waiter> waiter;
  uint64_t ticket = 0;
  {
    absl::MutexLock lock(&mu_);
    if (limits_now) limits = limits_now();
    Admission::Arrival arrival = admission_.Arrive(limits);
    if (arrival.outcome == Admission::Outcome::kAdmitted) co_return absl::OkStatus();
    if (arrival.outcome == Admission::Outcome::kRejected) {
      co_return absl::ResourceExhaustedError(
          "Too many pending requests: at most " + std::to_string(limits.total_limit()) +
          (limits.waiting_for_instance
               ? " (2 x max_concurrent_requests_per_instance) may wait while an instance starts"
               : " (2 x max_concurrent_requests_per_instance x ready instances) may be in "
                 "flight"));
    }
    ticket = arrival.ticket;
    waiter = std::make_shared<Waiter>();
    waiter->timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    waiter->timer->expires_after(limits.max_queue_wait);
    waiters_[ticket] = waiter;
  }
  boost::system::error_code ec;
  co_await waiter->timer->async_wait(http::Await(ec));
  absl::MutexLock lock(&mu_);
  if (waiter->granted) co_return absl::OkStatus();
  admission_.Abandon(ticket);
  waiters_.erase(ticket);
  if (limits.waiting_for_instance) {
    co_return absl::UnavailableError(
        "no instance became ready within the request's timeout (request_timeout_ms)");
  }
  co_return absl::ResourceExhaustedError("Too many pending requests: waited max_queue_wait_ms (" +
                                         std::to_string(limits.max_queue_wait.count()) +
                                         " ms) for a free instance");
}

void AdmissionGate::Leave(const AdmissionLimits& limits) {
  absl::MutexLock lock(&mu_);
  WakeLocked(admission_.Finish(limits));
}

void AdmissionGate::Rebalance(const AdmissionLimits& limits) {
  absl::MutexLock lock(&mu_);
  WakeLocked(admission_.Rebalance(limits));
}

void AdmissionGate::WakeLocked(const std::vector<uint64_t>& tickets) {
  for (uint64_t ticket : tickets) {
    auto it = waiters_.find(ticket);
    if (it == waiters_.end()) continue;
    std::shared_ptr<Waiter> waiter = it->second;
    waiters_.erase(it);
    waiter->granted = true;
    asio::post(waiter->timer->get_executor(), [waiter] { waiter->timer->cancel(); });
  }
}

int AdmissionGate::running() const {
  absl::MutexLock lock(&mu_);
  return admission_.running();
}

int AdmissionGate::waiting() const {
  absl::MutexLock lock(&mu_);
  return admission_.waiting();
}

}  // namespace berth::gateway
