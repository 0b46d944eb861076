#pragma once
// Randomness is injected wherever chance decides behaviour (traffic split, mirroring, backoff
// jitter).

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace berth {

// Source of uniformly distributed 64-bit values. Implementations are thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t Next() = 0;
};

// A seeded Mersenne Twister behind a mutex.
class DefaultRandom final : public RandomSource {
 public:
  DefaultRandom() : engine_(std::random_device{}()) {}
  explicit DefaultRandom(uint64_t seed) : engine_(seed) {}
  uint64_t Next() override {
    std::lock_guard lock(mu_);
    return engine_();
  }

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;
};

// A source that returns what a test sets, so a test chooses the split and the mirror draw.
class FixedRandom final : public RandomSource {
 public:
  uint64_t Next() override { return value; }
  std::atomic<uint64_t> value{0};
};

// Returns a random RFC 4122 version-4 GUID in lowercase text form.
std::string NewGuid();

}  // namespace berth
