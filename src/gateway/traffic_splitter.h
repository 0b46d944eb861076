#pragma once
// TrafficSplitter: picks the deployment for a rule-routed request and decides mirroring.
// Built once per endpoint traffic setting (validated on creation); Pick/Mirror take the random
// value from the caller, so tests choose it. Immutable after Create: safe to share across threads.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::gateway {

class TrafficSplitter {
 public:
  // `traffic`: deployment -> percent (zeros ignored), summing to 0 or 100. `mirror`: at most one
  // deployment at 1..50 percent that has no live traffic (names compared ignoring case). Names
  // are kept as given: Pick, Largest and Mirror return them unchanged.
  static absl::StatusOr<TrafficSplitter> Create(const std::map<std::string, int>& traffic,
                                                const std::map<std::string, int>& mirror);

  // The deployment for a request, or nullopt when no deployment has positive traffic.
  std::optional<std::string> Pick(uint64_t random) const;

  // The deployment with the largest share (ties: first by name), for non-scoring calls.
  std::optional<std::string> Largest() const;

  // The mirror deployment if this request should be copied to it.
  std::optional<std::string> Mirror(uint64_t random) const;

 private:
  struct Slot {
    std::string deployment;
    uint64_t upper;  // cumulative weight, exclusive
  };
  std::vector<Slot> slots_;
  uint64_t total_ = 0;
  std::string mirror_deployment_;
  int mirror_percent_ = 0;
};

}  // namespace berth::gateway
