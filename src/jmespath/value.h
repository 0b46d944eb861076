#pragma once
// The values the evaluator passes around: a JSON value either borrowed from the document (or
// from a value computed earlier) or owned by the evaluation. A shared_ptr carries both cases:
// a borrowed child shares its parent's owner (aliasing constructor), so `a.b.c` walks the
// document without copying it, and nothing dangles when an intermediate result is dropped.

#include <memory>

#include "nlohmann/json.hpp"

namespace berth::jmespath::internal {

using Value = std::shared_ptr<const nlohmann::json>;

// The shared null.
const Value& NullValue();

// A value that refers to the caller's `json`, which must outlive the evaluation.
Value Unowned(const nlohmann::json& json);

// A child of `parent` (a member or element of *parent), kept alive by parent's owner.
inline Value ChildOf(const Value& parent, const nlohmann::json& child) {
  return Value(parent, &child);
}

inline Value Own(nlohmann::json json) {
  return std::make_shared<const nlohmann::json>(std::move(json));
}

// JMESPath truthiness: false, null, "", [] and {} are false; everything else (0 too) is true.
bool IsTruthy(const nlohmann::json& json);

// A JSON number that is not a boolean (nlohmann keeps booleans apart already).
inline bool IsNumber(const nlohmann::json& json) { return json.is_number(); }

// Orders two numbers, integers exactly: <0, 0 or >0.
int CompareNumbers(const nlohmann::json& a, const nlohmann::json& b);

// The JMESPath type name: "number", "string", "boolean", "array", "object" or "null".
const char* TypeName(const nlohmann::json& json);

}  // namespace berth::jmespath::internal
