#pragma once
// The built-in functions of the specification, with its argument type checking.

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "jmespath/ast.h"
#include "jmespath/value.h"

namespace berth::jmespath::internal {

// One evaluated argument: a value, or an expression reference (`&expr`) left unevaluated.
struct Argument {
  Value value;
  const Expression::Node* expref = nullptr;
};

struct Function;

// The built-in named `name`, or null.
const Function* FindFunction(std::string_view name);

// Calls `call.function` (a kFunction node) with its evaluated arguments. Errors, in this
// order: kUnknownFunction, kInvalidArity, kInvalidType (first bad argument), then the
// function's own (errors of an expression reference it evaluates, kInvalidType of its keys).
absl::StatusOr<Value> CallFunction(const Expression::Node& call, std::vector<Argument> arguments);

}  // namespace berth::jmespath::internal
