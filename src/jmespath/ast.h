#pragma once
// The parsed tree of an expression. The parser builds it; once Compile returns it is immutable
// and shared by every copy of the Expression, so Search may run on it from any thread.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jmespath/jmespath.h"
#include "jmespath/json.h"

namespace berth::jmespath {
namespace internal {
struct Function;
enum class Comparator { kEq, kNe, kLt, kLte, kGt, kGte };
}  // namespace internal

struct Expression::Node {
  enum class Kind {
    kIdentity,          // `@`, and the implicit sides of projections
    kField,             // `name`: a member of an object, else null
    kSubexpression,     // `a.b.c`: children applied in turn
    kIndexExpression,   // `a[0][1]`: children applied in turn (a slice here does not project)
    kIndex,             // `[index]`, negative from the end
    kSlice,             // `[start:stop:step]`
    kProjection,        // children[0] must give an array; children[1] maps each element
    kValueProjection,   // `*`: as kProjection over an object's values
    kFilterProjection,  // as kProjection, keeping elements where children[2] is truthy
    kFlatten,           // `[]`: children[0]'s array with nested arrays spliced in
    kPipe,              // `a | b`
    kOr,
    kAnd,
    kNot,
    kComparator,
    kMultiSelectList,  // `[a, b]`
    kMultiSelectHash,  // `{k: a}`: keys[i] names children[i]
    kLiteral,
    kFunction,  // name(children...); `function` is null for a name the spec does not define
    kExpref,    // `&expr`: children[0], only meaningful as a function argument
  };

  explicit Node(Kind node_kind) : kind(node_kind) {}

  Kind kind;
  std::string name;  // kField, kFunction
  std::vector<std::string> keys;
  std::vector<std::unique_ptr<Node>> children;
  internal::Json literal;                       // kLiteral
  int64_t index = 0;                            // kIndex
  std::array<std::optional<int64_t>, 3> slice;  // kSlice: start, stop, step
  internal::Comparator comparator = internal::Comparator::kEq;
  const internal::Function* function = nullptr;  // kFunction
};

}  // namespace berth::jmespath
