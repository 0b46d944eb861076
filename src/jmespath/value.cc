#include "jmespath/value.h"

#include <cstdint>

namespace berth::jmespath::internal {

const Value& NullValue() {
  static const nlohmann::json* const kNull = new nlohmann::json(nullptr);
  static const Value* const kValue = new Value(Unowned(*kNull));
  return *kValue;
}

Value Unowned(const nlohmann::json& json) {
  // Aliasing an empty owner: a non-null pointer with no control block to count.
  return Value(std::shared_ptr<const nlohmann::json>(), &json);
}

bool IsTruthy(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return false;
    case nlohmann::json::value_t::boolean:
      return json.get<bool>();
    case nlohmann::json::value_t::string:
      return !json.get_ref<const std::string&>().empty();
    case nlohmann::json::value_t::array:
    case nlohmann::json::value_t::object:
      return !json.empty();
    default:
      return true;
  }
}

int CompareNumbers(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    auto wide = [](const nlohmann::json& n) -> __int128 {
      return n.is_number_unsigned() ? static_cast<__int128>(n.get<uint64_t>())
                                    : static_cast<__int128>(n.get<int64_t>());
    };
    const __int128 x = wide(a);
    const __int128 y = wide(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const double x = a.get<double>();
  const double y = b.get<double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

const char* TypeName(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::boolean:
      return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "number";
    case nlohmann::json::value_t::string:
      return "string";
    case nlohmann::json::value_t::array:
      return "array";
    case nlohmann::json::value_t::object:
      return "object";
    default:
      return "null";
  }
}

}  // namespace berth::jmespath::internal
