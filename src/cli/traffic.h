#pragma once
// The --traffic / --mirror-traffic values of `berth online-endpoint update`, written as Azure's
// CLI takes them: "blue=90 green=10" (space- or comma-separated name=percent pairs).

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// Parses the pairs into {"blue": 90, "green": 10}. Several strings (an option given several
// values) are read as one. Each percent is an integer 0..100; a name may appear once. Whether
// the rule as a whole is valid (sums, deployments that exist) is the server's call.
// `option` names the flag in errors ("--traffic").
absl::StatusOr<nlohmann::json> ParseTrafficRule(const std::vector<std::string>& values,
                                                std::string_view option);

// The --mirror-traffic value: like ParseTrafficRule, but entries of 0 are dropped, so "green=0"
// gives {} and clears mirroring.
absl::StatusOr<nlohmann::json> ParseMirrorTrafficRule(const std::vector<std::string>& values);

// "blue=90 green=10" for a traffic map, in name order; "" for an empty map.
std::string FormatTrafficRule(const nlohmann::json& traffic);

}  // namespace berth::cli
