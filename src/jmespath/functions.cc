#include "jmespath/functions.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "jmespath/errors.h"
#include "jmespath/interpreter.h"
#include "jmespath/python_text.h"

namespace berth::jmespath::internal {

// The types a parameter accepts, as a bit set; 0 accepts any value (not an expression
// reference). kArrayOfNumbers / kArrayOfStrings accept arrays whose elements all have that
// type; a parameter with both takes either kind, decided by the first element.
enum TypeBits : uint32_t {
  kAnyValue = 0,
  kNull = 1u << 0,
  kBoolean = 1u << 1,
  kNumber = 1u << 2,
  kString = 1u << 3,
  kArray = 1u << 4,
  kObject = 1u << 5,
  kExpref = 1u << 6,
  kArrayOfNumbers = 1u << 7,
  kArrayOfStrings = 1u << 8,
};

using Implementation = absl::StatusOr<Value> (*)(std::vector<Argument>& arguments);

struct Function {
  std::string_view name;
  std::vector<uint32_t> parameters;
  bool variadic;  // the last parameter repeats (at least once)
  Implementation implementation;
};

namespace {

absl::Status TypeError(std::string_view function, std::string_view what) {
  return MakeError(ErrorKind::kInvalidType,
                   absl::StrCat("in ", AbslView(function), "(): ", AbslView(what)));
}

uint32_t TypeBitOf(const Json& value) {
  switch (value.type()) {
    case Json::value_t::boolean:
      return kBoolean;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return kNumber;
    case Json::value_t::string:
      return kString;
    case Json::value_t::array:
      return kArray;
    case Json::value_t::object:
      return kObject;
    default:
      return kNull;
  }
}

std::string DescribeTypes(uint32_t types) {
  std::vector<std::string> names;
  if (types & kNull) names.push_back("null");
  if (types & kBoolean) names.push_back("boolean");
  if (types & kNumber) names.push_back("number");
  if (types & kString) names.push_back("string");
  if (types & kArray) names.push_back("array");
  if (types & kObject) names.push_back("object");
  if (types & kExpref) names.push_back("expression reference");
  if (types & kArrayOfNumbers) names.push_back("array of numbers");
  if (types & kArrayOfStrings) names.push_back("array of strings");
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

absl::Status CheckArgument(const Function& function, size_t position, uint32_t types,
                           const Argument& argument) {
  const std::string where = absl::StrCat("argument ", position + 1);
  if (argument.expref != nullptr) {
    if (types & kExpref) return absl::OkStatus();
    return TypeError(function.name,
                     absl::StrCat(where, " is an expression reference, expected ",
                                  types == kAnyValue ? "a value" : DescribeTypes(types)));
  }
  if (types == kAnyValue) return absl::OkStatus();
  const Json& value = *argument.value;
  uint32_t accepted = types;
  if (types & (kArrayOfNumbers | kArrayOfStrings)) accepted |= kArray;
  if ((TypeBitOf(value) & accepted) == 0) {
    return TypeError(function.name, absl::StrCat(where, " is a ", TypeName(value), ", expected ",
                                                 DescribeTypes(types)));
  }
  if (!value.is_array() || (types & (kArrayOfNumbers | kArrayOfStrings)) == 0) {
    return absl::OkStatus();
  }
  // Every element must have one element type: the only one allowed, or the first element's.
  uint32_t element_type;
  if ((types & kArrayOfNumbers) && (types & kArrayOfStrings)) {
    if (value.empty()) return absl::OkStatus();
    element_type = TypeBitOf(value[0]);
  } else {
    element_type = (types & kArrayOfNumbers) ? kNumber : kString;
  }
  for (const Json& element : value) {
    if (TypeBitOf(element) != element_type ||
        (element_type != kNumber && element_type != kString)) {
      return TypeError(function.name, absl::StrCat(where, " holds a ", TypeName(element),
                                                   ", expected ", DescribeTypes(types)));
    }
  }
  return absl::OkStatus();
}

// Orders two numbers or two strings (the caller has checked they are alike).
int CompareKeys(const Json& a, const Json& b) {
  if (a.is_string())
    return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
  return CompareNumbers(a, b);
}

// Python's sum(): integers stay exact integers until a float joins in.
Json Sum(const Json& numbers) {
  int64_t integer = 0;
  double real = 0;
  bool is_real = false;
  for (const Json& n : numbers) {
    if (!is_real && n.is_number_integer()) {
      int64_t add;
      if (n.is_number_unsigned() &&
          n.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        is_real = true;
        real = static_cast<double>(integer) + n.get<double>();
        continue;
      }
      add = n.get<int64_t>();
      if (!__builtin_add_overflow(integer, add, &integer)) continue;
      is_real = true;
      real = static_cast<double>(integer) + static_cast<double>(add);
      continue;
    }
    if (!is_real) {
      is_real = true;
      real = static_cast<double>(integer);
    }
    real += n.get<double>();
  }
  return is_real ? Json(real) : Json(integer);
}

// math.ceil / math.floor: an integer result (Python's are exact; beyond 64 bits, a double).
Json ToIntegral(double value) {
  if (std::isfinite(value) && value >= -9223372036854775808.0 && value < 9223372036854775808.0) {
    return Json(static_cast<int64_t>(value));
  }
  return Json(value);
}

size_t CodePointCount(const std::string& text) {
  size_t count = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;
  }
  return count;
}

std::string ReverseCodePoints(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    out.append(text, start, end - start);
    end = start;
  }
  return out;
}

const Json& ArrayOf(const Argument& argument) { return *argument.value; }

// Evaluates `expref` on each element: the keys of sort_by, min_by and max_by, which must be
// all numbers or all strings.
absl::StatusOr<std::vector<Value>> SortKeys(std::string_view function, const Argument& array,
                                            const Argument& expref) {
  std::vector<Value> keys;
  keys.reserve(array.value->size());
  for (const Json& element : *array.value) {
    ASSIGN_OR_RETURN(Value key, Evaluate(*expref.expref, ChildOf(array.value, element)));
    if (!key->is_number() && !key->is_string()) {
      return TypeError(function, absl::StrCat("the expression gave a ", TypeName(*key),
                                              ", expected a number or a string"));
    }
    if (!keys.empty() && key->is_number() != keys.front()->is_number()) {
      return TypeError(function, absl::StrCat("the expression gave a ", TypeName(*key), " after a ",
                                              TypeName(*keys.front()),
                                              "; keys must be all numbers or all strings"));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

// The first element whose key is strictly the most extreme (as Python's min()/max()).
absl::StatusOr<Value> ExtremeBy(std::string_view function, std::vector<Argument>& arguments,
                                int direction) {
  const Argument& array = arguments[0];
  if (array.value->empty()) return NullValue();
  ASSIGN_OR_RETURN(std::vector<Value> keys, SortKeys(function, array, arguments[1]));
  size_t best = 0;
  for (size_t i = 1; i < keys.size(); ++i) {
    if (CompareKeys(*keys[i], *keys[best]) * direction > 0) best = i;
  }
  return ChildOf(array.value, (*array.value)[best]);
}

absl::StatusOr<Value> Extreme(std::vector<Argument>& arguments, int direction) {
  const Value& array = arguments[0].value;
  if (array->empty()) return NullValue();
  size_t best = 0;
  for (size_t i = 1; i < array->size(); ++i) {
    if (CompareKeys((*array)[i], (*array)[best]) * direction > 0) best = i;
  }
  return ChildOf(array, (*array)[best]);
}

absl::StatusOr<Value> Abs(std::vector<Argument>& arguments) {
  const Json& n = *arguments[0].value;
  if (n.is_number_float()) return Own(std::fabs(n.get<double>()));
  if (n.is_number_unsigned()) return arguments[0].value;
  const int64_t value = n.get<int64_t>();
  if (value == std::numeric_limits<int64_t>::min()) return Own(-static_cast<double>(value));
  return Own(value < 0 ? -value : value);
}

absl::StatusOr<Value> Avg(std::vector<Argument>& arguments) {
  const Json& numbers = ArrayOf(arguments[0]);
  if (numbers.empty()) return NullValue();
  return Own(Sum(numbers).get<double>() / static_cast<double>(numbers.size()));
}

absl::StatusOr<Value> Ceil(std::vector<Argument>& arguments) {
  const Json& n = *arguments[0].value;
  if (n.is_number_integer()) return arguments[0].value;
  return Own(ToIntegral(std::ceil(n.get<double>())));
}

absl::StatusOr<Value> Floor(std::vector<Argument>& arguments) {
  const Json& n = *arguments[0].value;
  if (n.is_number_integer()) return arguments[0].value;
  return Own(ToIntegral(std::floor(n.get<double>())));
}

absl::StatusOr<Value> Contains(std::vector<Argument>& arguments) {
  const Json& subject = *arguments[0].value;
  const Json& search = *arguments[1].value;
  if (subject.is_string()) {
    // A string contains only strings (the reference implementation raises a Python
    // TypeError for anything else).
    return Own(search.is_string() &&
               subject.get_ref<const std::string&>().find(search.get_ref<const std::string&>()) !=
                   std::string::npos);
  }
  return Own(std::any_of(subject.begin(), subject.end(),
                         [&](const Json& element) { return JsonEqual(element, search); }));
}

absl::StatusOr<Value> EndsWith(std::vector<Argument>& arguments) {
  const std::string& subject = arguments[0].value->get_ref<const std::string&>();
  const std::string& suffix = arguments[1].value->get_ref<const std::string&>();
  return Own(subject.size() >= suffix.size() &&
             subject.compare(subject.size() - suffix.size(), suffix.size(), suffix) == 0);
}

absl::StatusOr<Value> StartsWith(std::vector<Argument>& arguments) {
  const std::string& subject = arguments[0].value->get_ref<const std::string&>();
  const std::string& prefix = arguments[1].value->get_ref<const std::string&>();
  return Own(subject.compare(0, prefix.size(), prefix) == 0);
}

absl::StatusOr<Value> Join(std::vector<Argument>& arguments) {
  const std::string& separator = arguments[0].value->get_ref<const std::string&>();
  std::string out;
  bool first = true;
  for (const Json& element : ArrayOf(arguments[1])) {
    if (!first) out += separator;
    first = false;
    out += element.get_ref<const std::string&>();
  }
  return Own(std::move(out));
}

absl::StatusOr<Value> Keys(std::vector<Argument>& arguments) {
  Json out = Json::array();
  for (const auto& [key, unused] : arguments[0].value->items()) out.push_back(key);
  return Own(std::move(out));
}

absl::StatusOr<Value> Values(std::vector<Argument>& arguments) {
  Json out = Json::array();
  for (const Json& element : *arguments[0].value) out.push_back(element);
  return Own(std::move(out));
}

absl::StatusOr<Value> Length(std::vector<Argument>& arguments) {
  const Json& subject = *arguments[0].value;
  if (subject.is_string()) {
    return Own(static_cast<int64_t>(CodePointCount(subject.get_ref<const std::string&>())));
  }
  return Own(static_cast<int64_t>(subject.size()));
}

absl::StatusOr<Value> Map(std::vector<Argument>& arguments) {
  Json out = Json::array();
  const Value& array = arguments[1].value;
  for (const Json& element : *array) {
    ASSIGN_OR_RETURN(Value mapped, Evaluate(*arguments[0].expref, ChildOf(array, element)));
    out.push_back(*mapped);
  }
  return Own(std::move(out));
}

absl::StatusOr<Value> Max(std::vector<Argument>& arguments) { return Extreme(arguments, 1); }
absl::StatusOr<Value> Min(std::vector<Argument>& arguments) { return Extreme(arguments, -1); }
absl::StatusOr<Value> MaxBy(std::vector<Argument>& arguments) {
  return ExtremeBy("max_by", arguments, 1);
}
absl::StatusOr<Value> MinBy(std::vector<Argument>& arguments) {
  return ExtremeBy("min_by", arguments, -1);
}

absl::StatusOr<Value> Merge(std::vector<Argument>& arguments) {
  Json out = Json::object();
  for (const Argument& argument : arguments) {
    for (const auto& [key, element] : argument.value->items()) out[key] = element;
  }
  return Own(std::move(out));
}

absl::StatusOr<Value> NotNull(std::vector<Argument>& arguments) {
  for (const Argument& argument : arguments) {
    if (!argument.value->is_null()) return argument.value;
  }
  return NullValue();
}

absl::StatusOr<Value> Reverse(std::vector<Argument>& arguments) {
  const Json& subject = *arguments[0].value;
  if (subject.is_string()) {
    return Own(ReverseCodePoints(subject.get_ref<const std::string&>()));
  }
  Json out = Json::array();
  for (auto it = subject.rbegin(); it != subject.rend(); ++it) out.push_back(*it);
  return Own(std::move(out));
}

absl::StatusOr<Value> Sort(std::vector<Argument>& arguments) {
  Json out = *arguments[0].value;
  std::stable_sort(out.begin(), out.end(),
                   [](const Json& a, const Json& b) { return CompareKeys(a, b) < 0; });
  return Own(std::move(out));
}

absl::StatusOr<Value> SortBy(std::vector<Argument>& arguments) {
  const Value& array = arguments[0].value;
  if (array->empty()) return array;
  ASSIGN_OR_RETURN(std::vector<Value> keys, SortKeys("sort_by", arguments[0], arguments[1]));
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return CompareKeys(*keys[a], *keys[b]) < 0; });
  Json out = Json::array();
  for (size_t i : order) out.push_back((*array)[i]);
  return Own(std::move(out));
}

absl::StatusOr<Value> SumOf(std::vector<Argument>& arguments) {
  return Own(Sum(ArrayOf(arguments[0])));
}

absl::StatusOr<Value> ToArray(std::vector<Argument>& arguments) {
  if (arguments[0].value->is_array()) return arguments[0].value;
  return Own(Json::array({*arguments[0].value}));
}

absl::StatusOr<Value> ToString(std::vector<Argument>& arguments) {
  if (arguments[0].value->is_string()) return arguments[0].value;
  return Own(PythonJsonDumps(*arguments[0].value));
}

absl::StatusOr<Value> ToNumber(std::vector<Argument>& arguments) {
  const Json& value = *arguments[0].value;
  if (value.is_number()) return arguments[0].value;
  if (!value.is_string()) return NullValue();
  std::optional<Json> number = PythonToNumber(value.get_ref<const std::string&>());
  if (!number) return NullValue();
  return Own(std::move(*number));
}

absl::StatusOr<Value> Type(std::vector<Argument>& arguments) {
  return Own(std::string(TypeName(*arguments[0].value)));
}

const std::vector<Function>& Table() {
  static const auto* const kTable = new std::vector<Function>{
      {"abs", {kNumber}, false, Abs},
      {"avg", {kArrayOfNumbers}, false, Avg},
      {"ceil", {kNumber}, false, Ceil},
      {"contains", {kArray | kString, kAnyValue}, false, Contains},
      {"ends_with", {kString, kString}, false, EndsWith},
      {"floor", {kNumber}, false, Floor},
      {"join", {kString, kArrayOfStrings}, false, Join},
      {"keys", {kObject}, false, Keys},
      {"length", {kString | kArray | kObject}, false, Length},
      {"map", {kExpref, kArray}, false, Map},
      {"max", {kArrayOfNumbers | kArrayOfStrings}, false, Max},
      {"max_by", {kArray, kExpref}, false, MaxBy},
      {"merge", {kObject}, true, Merge},
      {"min", {kArrayOfNumbers | kArrayOfStrings}, false, Min},
      {"min_by", {kArray, kExpref}, false, MinBy},
      {"not_null", {kAnyValue}, true, NotNull},
      {"reverse", {kArray | kString}, false, Reverse},
      {"sort", {kArrayOfNumbers | kArrayOfStrings}, false, Sort},
      {"sort_by", {kArray, kExpref}, false, SortBy},
      {"starts_with", {kString, kString}, false, StartsWith},
      {"sum", {kArrayOfNumbers}, false, SumOf},
      {"to_array", {kAnyValue}, false, ToArray},
      {"to_number", {kAnyValue}, false, ToNumber},
      {"to_string", {kAnyValue}, false, ToString},
      {"type", {kAnyValue}, false, Type},
      {"values", {kObject}, false, Values},
  };
  return *kTable;
}

}  // namespace

const Function* FindFunction(std::string_view name) {
  for (const Function& function : Table()) {
    if (function.name == name) return &function;
  }
  return nullptr;
}

absl::StatusOr<Value> CallFunction(const Expression::Node& call, std::vector<Argument> arguments) {
  const Function* function = call.function;
  if (function == nullptr) {
    return MakeError(ErrorKind::kUnknownFunction,
                     absl::StrCat("unknown function ", call.name, "()"));
  }
  const size_t expected = function->parameters.size();
  if (function->variadic ? arguments.size() < expected : arguments.size() != expected) {
    return MakeError(
        ErrorKind::kInvalidArity,
        absl::StrCat(AbslView(function->name), "() takes ", function->variadic ? "at least " : "",
                     expected, " argument", expected == 1 ? "" : "s", ", got ", arguments.size()));
  }
  for (size_t i = 0; i < arguments.size(); ++i) {
    const uint32_t types = function->parameters[std::min(i, expected - 1)];
    RETURN_IF_ERROR(CheckArgument(*function, i, types, arguments[i]));
  }
  return function->implementation(arguments);
}

}  // namespace berth::jmespath::internal
