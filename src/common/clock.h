#pragma once
// Time is injected wherever it decides behaviour (probes, admission, tokens, backoff).

#include <chrono>
#include <mutex>

namespace berth {

using SteadyTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;

// Source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time, for deadlines and intervals.
  virtual SteadyTime Now() const = 0;
  // Wall-clock time, for timestamps users see and token expiry.
  virtual SystemTime WallNow() const = 0;
};

// The real clocks.
class SystemClock final : public Clock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  SystemTime WallNow() const override { return std::chrono::system_clock::now(); }
  // A process-wide instance, for code that takes a `const Clock&`.
  static const Clock& Get() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that moves only when a test advances it.
class ManualClock final : public Clock {
 public:
  ManualClock()
      : steady_(SteadyTime{} + std::chrono::hours(1)),
        wall_(SystemTime{} + std::chrono::hours(24 * 365 * 50)) {}
  SteadyTime Now() const override {
    std::lock_guard lock(mu_);
    return steady_;
  }
  SystemTime WallNow() const override {
    std::lock_guard lock(mu_);
    return wall_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard lock(mu_);
    steady_ += d;
    wall_ += std::chrono::duration_cast<SystemTime::duration>(d);
  }

 private:
  mutable std::mutex mu_;
  SteadyTime steady_;
  SystemTime wall_;
};

}  // namespace berth
