#include "jmespath/value.h"

#include <cstdint>

namespace berth::jmespath::internal {

const Value& NullValue() {
  static const Json* const kNull = new Json(nullptr);
  static const Value* const kValue = new Value(Unowned(*kNull));
  return *kValue;
}

Value Unowned(const Json& value) {
  // Aliasing an empty owner: a non-null pointer with no control block to count.
  return Value(std::shared_ptr<const Json>(), &value);
}

bool IsTruthy(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
    case Json::value_t::discarded:
      return false;
    case Json::value_t::boolean:
      return value.get<bool>();
    case Json::value_t::string:
      return !value.get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !value.empty();
    default:
      return true;
  }
}

int CompareNumbers(const Json& a, const Json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    auto wide = [](const Json& n) -> __int128 {
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

const char* TypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "null";
  }
}

}  // namespace berth::jmespath::internal
