#pragma once
// The JMESPath lexer: turns an expression into tokens, all at once, so that a lexical error
// anywhere wins over a syntax error (as in the reference implementation).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "jmespath/json.h"

namespace berth::jmespath::internal {

enum class TokenType {
  kEof,
  kUnquotedIdentifier,
  kQuotedIdentifier,
  kLiteral,  // raw string '...' or JSON `...`; the value is in Token::value
  kNumber,   // an integer in an index or slice
  kRbracket,
  kRparen,
  kComma,
  kRbrace,
  kColon,
  kCurrent,  // @
  kExpref,   // &
  kPipe,
  kOr,
  kAnd,
  kEq,
  kNe,
  kLt,
  kLte,
  kGt,
  kGte,
  kFlatten,  // []
  kStar,
  kFilter,  // [?
  kDot,
  kNot,
  kLbrace,
  kLbracket,
  kLparen,
};

struct Token {
  TokenType type = TokenType::kEof;
  size_t start = 0;    // byte offset in the expression
  std::string text;    // the source text, or the identifier's name
  Json value;          // kLiteral only
  int64_t number = 0;  // kNumber only
};

// Errors: INVALID_ARGUMENT of kind kSyntax ("... at column N").
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view expression);

// A readable name for error messages ("identifier", "']'", "end of expression").
std::string_view TokenTypeName(TokenType type);

// The column (0-based, in characters) of a byte offset into a UTF-8 expression.
size_t ColumnOf(std::string_view expression, size_t byte_offset);

}  // namespace berth::jmespath::internal
