#include "cli/traffic.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth::cli {

absl::StatusOr<nlohmann::json> ParseTrafficRule(const std::vector<std::string>& values,
                                                std::string_view option) {
  const std::string flag(option);
  const std::string text = absl::StrJoin(values, " ");
  nlohmann::json rule = nlohmann::json::object();
  for (absl::string_view token :
       absl::StrSplit(text, absl::ByAnyChar(" \t\n,"), absl::SkipEmpty())) {
    const std::string pair(token);
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          flag, ": expected <deployment>=<percent> pairs like \"blue=90 green=10\", got \"", pair,
          "\""));
    }
    const std::string name = pair.substr(0, eq);
    const std::string percent = pair.substr(eq + 1);
    int value = -1;
    auto [ptr, ec] = std::from_chars(percent.data(), percent.data() + percent.size(), value);
    if (percent.empty() || ec != std::errc() || ptr != percent.data() + percent.size() ||
        value < 0 || value > 100) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": the percent for \"", name,
                                                     "\" must be an integer from 0 to 100, got \"",
                                                     percent, "\""));
    }
    if (rule.contains(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": deployment \"", name, "\" is given more than once"));
    }
    rule[name] = value;
  }
  if (rule.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected <deployment>=<percent> pairs like \"blue=90 green=10\""));
  }
  return rule;
}

absl::StatusOr<nlohmann::json> ParseMirrorTrafficRule(const std::vector<std::string>& values) {
  absl::StatusOr<nlohmann::json> rule = ParseTrafficRule(values, "--mirror-traffic");
  if (!rule.ok()) return rule;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, percent] : rule->items()) {
    if (percent.get<int>() != 0) out[name] = percent;
  }
  return out;
}

std::string FormatTrafficRule(const nlohmann::json& traffic) {
  if (!traffic.is_object()) return "";
  std::vector<std::string> parts;
  for (const auto& [name, percent] : traffic.items()) {
    parts.push_back(absl::StrCat(name, "=", percent.is_number() ? percent.dump() : "?"));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace berth::cli
