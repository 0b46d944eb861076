#pragma once
// JMESPath (https://jmespath.org/specification.html) over nlohmann JSON: what `berth --query`
// applies to a command's result before printing it, as `az --query` does.
//
// The evaluator works over nlohmann::ordered_json, whose objects keep insertion order as
// Python's dicts do: a multi-select hash `{n: name, e: endpoint}` lists n before e (what
// `-o tsv` and `-o table` print as columns), and keys(), values(), `*` and merge() follow the
// document's order. Equality (`==`, contains()) ignores key order. The nlohmann::json
// overloads convert in and out, so their objects come back with sorted keys.
//
// The whole specification: identifiers (raw and quoted), sub-expressions, index and slice
// expressions, list/object/flatten/filter projections, pipes, multi-select lists and hashes,
// comparators and `||`, `&&`, `!`, parentheses, current node `@`, raw string literals and JSON
// literals, expression references `&`, and every built-in function. Results follow the
// reference implementation (Python's `jmespath`), which the tests cross-check against.
//
// Threading: an Expression is immutable after Compile; Search may run on any thread at once.
// Errors are values: a Status whose ErrorKind says which class of JMESPath error it is.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::jmespath {

// The error classes of the specification (and of the reference implementation's exceptions).
enum class ErrorKind {
  kSyntax,           // lexer or parser error, with the column ("... at column 7")
  kInvalidType,      // a function argument of the wrong type
  kInvalidArity,     // a function called with the wrong number of arguments
  kUnknownFunction,  // a function name the specification does not define
  kInvalidValue,     // a value outside its domain (e.g. a slice step of 0)
};

// The kind of an error Compile or Search returned; nullopt for OK or a foreign status.
std::optional<ErrorKind> KindOf(const absl::Status& status);

// "syntax", "invalid-type", "invalid-arity", "unknown-function", "invalid-value".
std::string_view KindName(ErrorKind kind);

class Expression {
 public:
  // Parses `text`. Errors: INVALID_ARGUMENT of kind kSyntax naming the column and what was
  // expected. Function names and arities are checked by Search when the call is evaluated
  // (after its arguments), as the reference implementation does.
  static absl::StatusOr<Expression> Compile(std::string_view text);

  // Evaluates the expression against `document`. A path that does not exist yields null, as
  // the specification says. Errors: INVALID_ARGUMENT of kind kInvalidType, kInvalidArity,
  // kUnknownFunction or kInvalidValue.
  absl::StatusOr<nlohmann::ordered_json> Search(const nlohmann::ordered_json& document) const;
  absl::StatusOr<nlohmann::json> Search(const nlohmann::json& document) const;

  const std::string& text() const { return text_; }

  struct Node;  // the parsed tree, defined by the implementation

 private:
  Expression(std::string text, std::shared_ptr<const Node> root)
      : text_(std::move(text)), root_(std::move(root)) {}
  std::string text_;
  std::shared_ptr<const Node> root_;
};

// Compile and Search in one step.
absl::StatusOr<nlohmann::ordered_json> Search(std::string_view expression,
                                              const nlohmann::ordered_json& document);
absl::StatusOr<nlohmann::json> Search(std::string_view expression, const nlohmann::json& document);

}  // namespace berth::jmespath
