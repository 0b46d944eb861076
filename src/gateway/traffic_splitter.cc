#include "gateway/traffic_splitter.h"

#include "common/errors.h"
#include "core/spec.h"

namespace berth::gateway {

absl::StatusOr<TrafficSplitter> TrafficSplitter::Create(const std::map<std::string, int>& traffic,
                                                        const std::map<std::string, int>& mirror) {
  TrafficSplitter splitter;
  for (const auto& [name, percent] : traffic) {
    if (percent < 0 || percent > 100) {
      return InvalidField("traffic." + name,
                          "percent must be between 0 and 100, got " + std::to_string(percent));
    }
    if (percent == 0) continue;
    splitter.total_ += static_cast<uint64_t>(percent);
    splitter.slots_.push_back({name, splitter.total_});
  }
  if (splitter.total_ != 0 && splitter.total_ != 100) {
    return InvalidField("traffic", "traffic percentages must sum to 0 or 100, got " +
                                       std::to_string(splitter.total_));
  }
  int mirrors = 0;
  for (const auto& [name, percent] : mirror) {
    if (percent == 0) continue;
    if (++mirrors > 1) return InvalidField("mirror_traffic", "only one deployment can be mirrored");
    if (percent < 0 || percent > 50) {
      return InvalidField(
          "mirror_traffic." + name,
          "mirror percent must be between 0 and 50, got " + std::to_string(percent));
    }
    for (const auto& [live, live_percent] : traffic) {
      if (live_percent <= 0 || !core::SameName(live, name)) continue;
      return InvalidField("mirror_traffic." + name,
                          "deployment '" + live + "' has live traffic (" +
                              std::to_string(live_percent) +
                              "%); a deployment gets live or mirrored traffic, not both");
    }
    splitter.mirror_deployment_ = name;
    splitter.mirror_percent_ = percent;
  }
  return splitter;
}

std::optional<std::string> TrafficSplitter::Pick(uint64_t random) const {
  if (total_ == 0) return std::nullopt;
  uint64_t point = random % total_;
  for (const auto& slot : slots_) {
    if (point < slot.upper) return slot.deployment;
  }
  return slots_.back().deployment;
}

std::optional<std::string> TrafficSplitter::Largest() const {
  if (total_ == 0) return std::nullopt;
  uint64_t lower = 0, best_share = 0;
  const std::string* best = nullptr;
  for (const auto& slot : slots_) {
    if (slot.upper - lower > best_share) {
      best_share = slot.upper - lower;
      best = &slot.deployment;
    }
    lower = slot.upper;
  }
  return *best;
}

std::optional<std::string> TrafficSplitter::Mirror(uint64_t random) const {
  if (mirror_percent_ == 0) return std::nullopt;
  if (random % 100 < static_cast<uint64_t>(mirror_percent_)) return mirror_deployment_;
  return std::nullopt;
}

}  // namespace berth::gateway
