#pragma once
// A Pratt (top-down operator precedence) parser for JMESPath, with the reference
// implementation's binding powers, so precedence and where projections stop agree with it.

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "jmespath/ast.h"

namespace berth::jmespath::internal {

// Errors: INVALID_ARGUMENT of kind kSyntax naming the column and the offending token.
absl::StatusOr<std::unique_ptr<Expression::Node>> Parse(std::string_view expression);

}  // namespace berth::jmespath::internal
