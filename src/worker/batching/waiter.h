#pragma once
// Waiter: how a batcher thread sleeps until a time on its Clock or until it is notified. The
// batcher reads the time from the Clock and sleeps through this seam, so tests drive a batcher
// with a ManualClock and a ManualWaiter instead of sleeping.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "common/clock.h"

namespace berth::worker {

class Waiter {
 public:
  virtual ~Waiter() = default;
  // Blocks on `cv`, with `lock` held on entry and on return, until `cv` is notified or the
  // clock reaches `deadline` (SteadyTime::max(): no deadline). May return early; callers
  // re-check their state. The caller read the clock under `lock` to choose `deadline`.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         SteadyTime deadline) = 0;
};

// The real one, for SystemClock (whose Now() is steady_clock's).
class SteadyWaiter final : public Waiter {
 public:
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 SteadyTime deadline) override;
  static Waiter& Get();
};

// For tests with a ManualClock: a wait ends only when notified, when Advance moves the clock,
// or when the clock already passed the deadline. Tests call Advance instead of
// ManualClock::Advance so waiting threads re-read the time. The waiting threads' mutexes and
// condition variables must outlive a concurrent Advance.
class ManualWaiter final : public Waiter {
 public:
  explicit ManualWaiter(ManualClock& clock) : clock_(clock) {}

  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 SteadyTime deadline) override;

  // Moves the clock forward and wakes every thread waiting now.
  void Advance(std::chrono::nanoseconds d);

  // Blocks until at least `count` threads wait with exactly `deadline`, or `timeout` of real
  // time passes (false). Lets a test know a batcher has decided to wait.
  bool AwaitWaiting(size_t count, SteadyTime deadline,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  struct Entry {
    std::mutex* mu;
    std::condition_variable* cv;
    SteadyTime deadline;
  };

  ManualClock& clock_;
  std::mutex mu_;  // taken after a waiting thread's own mutex, never before it
  std::condition_variable changed_;
  std::vector<Entry*> waiting_;
};

}  // namespace berth::worker
