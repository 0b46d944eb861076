#include "jmespath/jmespath.h"

#include <utility>

#include "common/status_macros.h"
#include "jmespath/ast.h"
#include "jmespath/interpreter.h"
#include "jmespath/json.h"
#include "jmespath/parser.h"

namespace berth::jmespath {

absl::StatusOr<Expression> Expression::Compile(std::string_view text) {
  ASSIGN_OR_RETURN(std::unique_ptr<Node> root, internal::Parse(text));
  return Expression(std::string(text), std::shared_ptr<const Node>(std::move(root)));
}

absl::StatusOr<nlohmann::ordered_json> Expression::Search(
    const nlohmann::ordered_json& document) const {
  ASSIGN_OR_RETURN(internal::Value result, internal::Evaluate(*root_, internal::Unowned(document)));
  return *result;
}

absl::StatusOr<nlohmann::json> Expression::Search(const nlohmann::json& document) const {
  ASSIGN_OR_RETURN(nlohmann::ordered_json result, Search(internal::ToOrdered(document)));
  return internal::ToSorted(result);
}

absl::StatusOr<nlohmann::ordered_json> Search(std::string_view expression,
                                              const nlohmann::ordered_json& document) {
  ASSIGN_OR_RETURN(Expression compiled, Expression::Compile(expression));
  return compiled.Search(document);
}

absl::StatusOr<nlohmann::json> Search(std::string_view expression, const nlohmann::json& document) {
  ASSIGN_OR_RETURN(Expression compiled, Expression::Compile(expression));
  return compiled.Search(document);
}

}  // namespace berth::jmespath
