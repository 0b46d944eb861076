#pragma once
// The JSON type the evaluator works over: nlohmann::ordered_json, whose objects keep insertion
// order as Python's dicts do, so a multi-select hash lists its keys in the expression's order
// and keys()/values()/`*` follow the document's order, as the reference implementation does.
// Equality must not depend on that order (Python's dict == does not); ordered_json's
// operator== does, so the evaluator compares with JsonEqual only.

#include "nlohmann/json.hpp"

namespace berth::jmespath::internal {

using Json = nlohmann::ordered_json;

// JMESPath equality: objects as unordered maps (recursively), arrays element-wise, numbers by
// value (integers exactly; 1 == 1.0), and no value equal to one of another type (true != 1).
bool JsonEqual(const Json& a, const Json& b);

// The same value with the other object representation; number types (integer, unsigned,
// float) are kept. Converting from nlohmann::json gives keys in its (sorted) order.
Json ToOrdered(const nlohmann::json& value);
nlohmann::json ToSorted(const Json& value);

}  // namespace berth::jmespath::internal
