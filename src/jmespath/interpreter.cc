#include "jmespath/interpreter.h"

#include <string>
#include <vector>

#include "common/status_macros.h"
#include "jmespath/errors.h"
#include "jmespath/functions.h"

namespace berth::jmespath::internal {
namespace {

using Node = Expression::Node;

// Applies children in turn, each to the previous one's result.
absl::StatusOr<Value> EvaluateChain(const Node& node, const Value& current) {
  Value result = current;
  for (const auto& child : node.children) {
    ASSIGN_OR_RETURN(result, Evaluate(*child, result));
  }
  return result;
}

Value EvaluateIndex(const Node& node, const Value& current) {
  if (!current->is_array()) return NullValue();
  const int64_t size = static_cast<int64_t>(current->size());
  const int64_t index = node.index < 0 ? node.index + size : node.index;
  if (index < 0 || index >= size) return NullValue();
  return ChildOf(current, (*current)[static_cast<size_t>(index)]);
}

// Python's slice semantics: defaults by the step's sign, negative bounds from the end, and
// bounds clamped to the array.
absl::StatusOr<Value> EvaluateSlice(const Node& node, const Value& current) {
  if (!current->is_array()) return NullValue();
  const int64_t step = node.slice[2].value_or(1);
  if (step == 0) return MakeError(ErrorKind::kInvalidValue, "a slice step cannot be 0");
  const int64_t length = static_cast<int64_t>(current->size());
  auto bound = [&](const std::optional<int64_t>& given, int64_t fallback) -> int64_t {
    if (!given) return fallback;
    int64_t value = *given;
    if (value < 0) {
      value += length;
      if (value < 0) value = step < 0 ? -1 : 0;
    } else if (value >= length) {
      value = step < 0 ? length - 1 : length;
    }
    return value;
  };
  const int64_t start = bound(node.slice[0], step < 0 ? length - 1 : 0);
  const int64_t stop = bound(node.slice[1], step < 0 ? -1 : length);
  Json out = Json::array();
  for (__int128 i = start; step > 0 ? i < stop : i > stop; i += step) {
    out.push_back((*current)[static_cast<size_t>(i)]);
  }
  return Own(std::move(out));
}

// Applies `rhs` to each element, dropping null results.
absl::StatusOr<Value> Project(const Value& base, const Json& elements, const Node& rhs) {
  Json out = Json::array();
  for (const Json& element : elements) {
    ASSIGN_OR_RETURN(Value mapped, Evaluate(rhs, ChildOf(base, element)));
    if (!mapped->is_null()) out.push_back(*mapped);
  }
  return Own(std::move(out));
}

absl::StatusOr<Value> EvaluateComparator(const Node& node, const Value& current) {
  ASSIGN_OR_RETURN(Value left, Evaluate(*node.children[0], current));
  ASSIGN_OR_RETURN(Value right, Evaluate(*node.children[1], current));
  const Json& a = *left;
  const Json& b = *right;
  if (node.comparator == Comparator::kEq) return Own(JsonEqual(a, b));
  if (node.comparator == Comparator::kNe) return Own(!JsonEqual(a, b));
  // Ordering is defined between numbers, and (as the reference implementation does) between
  // strings by code point; anything else compares to null.
  int order;
  if (IsNumber(a) && IsNumber(b)) {
    order = CompareNumbers(a, b);
  } else if (a.is_string() && b.is_string()) {
    order = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
  } else {
    return NullValue();
  }
  switch (node.comparator) {
    case Comparator::kLt:
      return Own(order < 0);
    case Comparator::kLte:
      return Own(order <= 0);
    case Comparator::kGt:
      return Own(order > 0);
    default:
      return Own(order >= 0);
  }
}

absl::StatusOr<Value> EvaluateFunction(const Node& node, const Value& current) {
  std::vector<Argument> arguments;
  arguments.reserve(node.children.size());
  for (const auto& child : node.children) {
    Argument argument;
    if (child->kind == Node::Kind::kExpref) {
      argument.expref = child->children[0].get();
    } else {
      ASSIGN_OR_RETURN(argument.value, Evaluate(*child, current));
    }
    arguments.push_back(std::move(argument));
  }
  return CallFunction(node, std::move(arguments));
}

}  // namespace

absl::StatusOr<Value> Evaluate(const Node& node, const Value& current) {
  switch (node.kind) {
    case Node::Kind::kIdentity:
      return current;
    case Node::Kind::kField: {
      if (!current->is_object()) return NullValue();
      auto it = current->find(node.name);
      if (it == current->end()) return NullValue();
      return ChildOf(current, *it);
    }
    case Node::Kind::kSubexpression:
    case Node::Kind::kIndexExpression:
    case Node::Kind::kPipe:
      return EvaluateChain(node, current);
    case Node::Kind::kIndex:
      return EvaluateIndex(node, current);
    case Node::Kind::kSlice:
      return EvaluateSlice(node, current);
    case Node::Kind::kProjection: {
      ASSIGN_OR_RETURN(Value base, Evaluate(*node.children[0], current));
      if (!base->is_array()) return NullValue();
      return Project(base, *base, *node.children[1]);
    }
    case Node::Kind::kValueProjection: {
      ASSIGN_OR_RETURN(Value base, Evaluate(*node.children[0], current));
      if (!base->is_object()) return NullValue();
      return Project(base, *base, *node.children[1]);
    }
    case Node::Kind::kFilterProjection: {
      ASSIGN_OR_RETURN(Value base, Evaluate(*node.children[0], current));
      if (!base->is_array()) return NullValue();
      Json out = Json::array();
      for (const Json& element : *base) {
        const Value item = ChildOf(base, element);
        ASSIGN_OR_RETURN(Value keep, Evaluate(*node.children[2], item));
        if (!IsTruthy(*keep)) continue;
        ASSIGN_OR_RETURN(Value mapped, Evaluate(*node.children[1], item));
        if (!mapped->is_null()) out.push_back(*mapped);
      }
      return Own(std::move(out));
    }
    case Node::Kind::kFlatten: {
      ASSIGN_OR_RETURN(Value base, Evaluate(*node.children[0], current));
      if (!base->is_array()) return NullValue();
      Json out = Json::array();
      for (const Json& element : *base) {
        if (element.is_array()) {
          out.insert(out.end(), element.begin(), element.end());
        } else {
          out.push_back(element);
        }
      }
      return Own(std::move(out));
    }
    case Node::Kind::kOr: {
      ASSIGN_OR_RETURN(Value left, Evaluate(*node.children[0], current));
      if (IsTruthy(*left)) return left;
      return Evaluate(*node.children[1], current);
    }
    case Node::Kind::kAnd: {
      ASSIGN_OR_RETURN(Value left, Evaluate(*node.children[0], current));
      if (!IsTruthy(*left)) return left;
      return Evaluate(*node.children[1], current);
    }
    case Node::Kind::kNot: {
      ASSIGN_OR_RETURN(Value operand, Evaluate(*node.children[0], current));
      return Own(!IsTruthy(*operand));
    }
    case Node::Kind::kComparator:
      return EvaluateComparator(node, current);
    case Node::Kind::kMultiSelectList: {
      if (current->is_null()) return NullValue();
      Json out = Json::array();
      for (const auto& child : node.children) {
        ASSIGN_OR_RETURN(Value element, Evaluate(*child, current));
        out.push_back(*element);
      }
      return Own(std::move(out));
    }
    case Node::Kind::kMultiSelectHash: {
      if (current->is_null()) return NullValue();
      Json out = Json::object();
      for (size_t i = 0; i < node.children.size(); ++i) {
        ASSIGN_OR_RETURN(Value element, Evaluate(*node.children[i], current));
        out[node.keys[i]] = *element;
      }
      return Own(std::move(out));
    }
    case Node::Kind::kLiteral:
      return Unowned(node.literal);
    case Node::Kind::kFunction:
      return EvaluateFunction(node, current);
    case Node::Kind::kExpref:
      return MakeError(ErrorKind::kInvalidType,
                       "an expression reference (&...) can only be a function argument");
  }
  return NullValue();
}

}  // namespace berth::jmespath::internal
