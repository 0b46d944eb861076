#pragma once
// The reference implementation's text conversions, which to_string and to_number follow:
// Python's json.dumps(value, separators=(',', ':')) and Python's int()/float() parsing.

#include <optional>
#include <string>
#include <string_view>

#include "jmespath/json.h"

namespace berth::jmespath::internal {

// Compact JSON as Python writes it: non-ASCII escaped as \uXXXX (surrogate pairs above the
// BMP), floats as repr() does ("1.0", "1e-05", "1e+16"), keys in the object's order.
std::string PythonJsonDumps(const Json& value);

// A float as Python's repr(): the shortest text that reads back to the same double.
std::string PythonFloatRepr(double value);

// The number `text` denotes to Python's int() or, failing that, float(): surrounding
// whitespace, a sign and '_' between digits are accepted. nullopt when neither parses, and
// for infinities and NaN, which JSON cannot carry.
std::optional<Json> PythonToNumber(std::string_view text);

}  // namespace berth::jmespath::internal
