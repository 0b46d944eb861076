#include "jmespath/json.h"

#include <cstdint>
#include <string>
#include <utility>

#include "jmespath/value.h"

namespace berth::jmespath::internal {
namespace {

// Copies `from` into `to` (of the other nlohmann flavour), recursively.
template <typename To, typename From>
To Convert(const From& from) {
  switch (from.type()) {
    case From::value_t::object: {
      To out = To::object();
      for (const auto& [key, element] : from.items()) out[key] = Convert<To>(element);
      return out;
    }
    case From::value_t::array: {
      To out = To::array();
      for (const auto& element : from) out.push_back(Convert<To>(element));
      return out;
    }
    case From::value_t::boolean:
      return To(from.template get<bool>());
    case From::value_t::number_integer:
      return To(from.template get<int64_t>());
    case From::value_t::number_unsigned:
      return To(from.template get<uint64_t>());
    case From::value_t::number_float:
      return To(from.template get<double>());
    case From::value_t::string:
      return To(from.template get_ref<const std::string&>());
    default:
      return To(nullptr);
  }
}

}  // namespace

bool JsonEqual(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) return CompareNumbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Json::value_t::object: {
      if (a.size() != b.size()) return false;
      for (const auto& [key, element] : a.items()) {
        const auto other = b.find(key);
        if (other == b.end() || !JsonEqual(element, *other)) return false;
      }
      return true;
    }
    case Json::value_t::array: {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!JsonEqual(a[i], b[i])) return false;
      }
      return true;
    }
    default:
      return a == b;  // null, boolean, string: no order involved
  }
}

Json ToOrdered(const nlohmann::json& value) { return Convert<Json>(value); }

nlohmann::json ToSorted(const Json& value) { return Convert<nlohmann::json>(value); }

}  // namespace berth::jmespath::internal
