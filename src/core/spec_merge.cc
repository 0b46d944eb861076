// MergeSpec: JSON merge patch (RFC 7386) with whole-value replacement of the traffic maps.

#include "core/spec_json.h"

namespace berth::core {
namespace {

using nlohmann::json;

// A value added where the base has nothing still drops its nulls: they only mean "remove".
json WithoutNulls(const json& value) {
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [key, item] : value.items()) {
    if (!item.is_null()) out[key] = WithoutNulls(item);
  }
  return out;
}

json Merge(const json& base, const json& update, bool top_level) {
  if (!update.is_object() || !base.is_object()) return WithoutNulls(update);
  json out = base;
  for (const auto& [key, value] : update.items()) {
    if (value.is_null()) {
      out.erase(key);
    } else if (top_level && (key == "traffic" || key == "mirror_traffic")) {
      // A traffic rule is one decision: `{green: 100}` must not keep an old `blue: 100`.
      out[key] = WithoutNulls(value);
    } else if (out.contains(key)) {
      out[key] = Merge(out[key], value, /*top_level=*/false);
    } else {
      out[key] = WithoutNulls(value);
    }
  }
  return out;
}

}  // namespace

json MergeSpec(const json& base, const json& update) {
  return Merge(base, update, /*top_level=*/true);
}

}  // namespace berth::core
