#pragma once
// The values the evaluator passes around: a JSON value either borrowed from the document (or
// from a value computed earlier) or owned by the evaluation. A shared_ptr carries both cases:
// a borrowed child shares its parent's owner (aliasing constructor), so `a.b.c` walks the
// document without copying it, and nothing dangles when an intermediate result is dropped.

#include <memory>

#include "jmespath/json.h"

namespace berth::jmespath::internal {

using Value = std::shared_ptr<const Json>;

// The shared null.
const Value& NullValue();

// A value that refers to the caller's `value`, which must outlive the evaluation.
Value Unowned(const Json& value);

// A child of `parent` (a member or element of *parent), kept alive by parent's owner.
inline Value ChildOf(const Value& parent, const Json& child) { return Value(parent, &child); }

inline Value Own(Json value) { return std::make_shared<const Json>(std::move(value)); }

// JMESPath truthiness: false, null, "", [] and {} are false; everything else (0 too) is true.
bool IsTruthy(const Json& value);

// A JSON number that is not a boolean (nlohmann keeps booleans apart already).
inline bool IsNumber(const Json& value) { return value.is_number(); }

// Orders two numbers, integers exactly: <0, 0 or >0.
int CompareNumbers(const Json& a, const Json& b);

// The JMESPath type name: "number", "string", "boolean", "array", "object" or "null".
const char* TypeName(const Json& value);

}  // namespace berth::jmespath::internal
