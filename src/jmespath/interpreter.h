#pragma once
// The tree-walking evaluator: applies a parsed expression to a value.

#include "absl/status/statusor.h"
#include "jmespath/ast.h"
#include "jmespath/value.h"

namespace berth::jmespath::internal {

// Errors: INVALID_ARGUMENT of kind kInvalidType, kInvalidArity, kUnknownFunction or
// kInvalidValue, from the first failing step in evaluation order (left to right).
absl::StatusOr<Value> Evaluate(const Expression::Node& node, const Value& current);

}  // namespace berth::jmespath::internal
