#include "worker/batching/waiter.h"

#include <algorithm>

namespace berth::worker {

void SteadyWaiter::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                             SteadyTime deadline) {
  if (deadline == SteadyTime::max()) {
    cv.wait(lock);
  } else {
    cv.wait_until(lock, deadline);
  }
}

Waiter& SteadyWaiter::Get() {
  static SteadyWaiter waiter;
  return waiter;
}

void ManualWaiter::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                             SteadyTime deadline) {
  Entry entry{lock.mutex(), &cv, deadline};
  {
    std::lock_guard guard(mu_);
    waiting_.push_back(&entry);
  }
  changed_.notify_all();
  // Registered before this check: an Advance after it finds the entry and, by taking `lock`'s
  // mutex before notifying, cannot notify before this thread waits.
  if (clock_.Now() < deadline) cv.wait(lock);
  std::lock_guard guard(mu_);
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &entry));
}

void ManualWaiter::Advance(std::chrono::nanoseconds d) {
  clock_.Advance(d);
  std::vector<Entry> wake;
  {
    std::lock_guard guard(mu_);
    for (const Entry* e : waiting_) wake.push_back(*e);
  }
  for (const Entry& e : wake) {
    { std::lock_guard held(*e.mu); }
    e.cv->notify_all();
  }
}

bool ManualWaiter::AwaitWaiting(size_t count, SteadyTime deadline,
                                std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    return static_cast<size_t>(std::count_if(waiting_.begin(), waiting_.end(), [&](Entry* e) {
             return e->deadline == deadline;
           })) >= count;
  });
}

}  // namespace berth::worker
