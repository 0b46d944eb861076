#include "jmespath/parser.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "jmespath/errors.h"
#include "jmespath/functions.h"
#include "jmespath/lexer.h"

namespace berth::jmespath::internal {
namespace {

using Node = Expression::Node;
using NodePtr = std::unique_ptr<Node>;

// How strongly a token binds to the expression on its left. Tokens below kProjectionStop end
// the right-hand side of a projection: `a[*].b | c` projects `.b` but not `| c`.
int BindingPower(TokenType type) {
  switch (type) {
    case TokenType::kPipe:
      return 1;
    case TokenType::kOr:
      return 2;
    case TokenType::kAnd:
      return 3;
    case TokenType::kEq:
    case TokenType::kNe:
    case TokenType::kLt:
    case TokenType::kLte:
    case TokenType::kGt:
    case TokenType::kGte:
      return 5;
    case TokenType::kFlatten:
      return 9;
    case TokenType::kStar:
      return 20;
    case TokenType::kFilter:
      return 21;
    case TokenType::kDot:
      return 40;
    case TokenType::kNot:
      return 45;
    case TokenType::kLbrace:
      return 50;
    case TokenType::kLbracket:
      return 55;
    case TokenType::kLparen:
      return 60;
    default:
      return 0;
  }
}
constexpr int kProjectionStop = 10;

NodePtr MakeNode(Node::Kind kind) { return std::make_unique<Node>(kind); }

NodePtr MakeNode(Node::Kind kind, NodePtr first, NodePtr second) {
  NodePtr node = MakeNode(kind);
  node->children.push_back(std::move(first));
  node->children.push_back(std::move(second));
  return node;
}

NodePtr Identity() { return MakeNode(Node::Kind::kIdentity); }

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> tokens)
      : text_(text), tokens_(std::move(tokens)) {}

  absl::StatusOr<NodePtr> ParseAll() {
    ASSIGN_OR_RETURN(NodePtr root, ParseExpression(0));
    if (Current() != TokenType::kEof) return ErrorAt(Token0(), "unexpected token");
    return root;
  }

 private:
  TokenType Current() const { return tokens_[index_].type; }
  TokenType Lookahead(size_t n) const {
    return index_ + n < tokens_.size() ? tokens_[index_ + n].type : TokenType::kEof;
  }
  const Token& Token0() const { return tokens_[index_]; }
  void Advance() {
    if (index_ + 1 < tokens_.size()) ++index_;
  }

  absl::Status ErrorAt(const Token& token, std::string_view what) const {
    if (token.type == TokenType::kEof) {
      return MakeError(ErrorKind::kSyntax, absl::StrCat("incomplete expression: ", AbslView(what),
                                                        " at column ", ColumnOf(text_, token.start),
                                                        " (end of \"", AbslView(text_), "\")"));
    }
    return MakeError(ErrorKind::kSyntax,
                     absl::StrCat(AbslView(what), ": ", AbslView(TokenTypeName(token.type)), " \"",
                                  token.text, "\" at column ", ColumnOf(text_, token.start),
                                  " of \"", AbslView(text_), "\""));
  }

  absl::Status Expect(TokenType type) {
    if (Current() != type) {
      return ErrorAt(Token0(), absl::StrCat("expected ", AbslView(TokenTypeName(type))));
    }
    Advance();
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> ParseExpression(int binding_power) {
    const Token& token = Token0();
    Advance();
    ASSIGN_OR_RETURN(NodePtr left, Nud(token));
    while (binding_power < BindingPower(Current())) {
      ASSIGN_OR_RETURN(left, Led(std::move(left)));
    }
    return left;
  }

  // A token that starts an expression.
  absl::StatusOr<NodePtr> Nud(const Token& token) {
    switch (token.type) {
      case TokenType::kLiteral: {
        NodePtr node = MakeNode(Node::Kind::kLiteral);
        node->literal = token.value;
        return node;
      }
      case TokenType::kUnquotedIdentifier: {
        NodePtr node = MakeNode(Node::Kind::kField);
        node->name = token.text;
        return node;
      }
      case TokenType::kQuotedIdentifier: {
        if (Current() == TokenType::kLparen) {
          return ErrorAt(Token0(), "a quoted identifier cannot name a function");
        }
        NodePtr node = MakeNode(Node::Kind::kField);
        node->name = token.text;
        return node;
      }
      case TokenType::kStar: {
        // `*` alone, as in `[a, *]`, projects the current object's values unchanged.
        NodePtr right;
        if (Current() == TokenType::kRbracket) {
          right = Identity();
        } else {
          ASSIGN_OR_RETURN(right, ParseProjectionRhs(BindingPower(TokenType::kStar)));
        }
        return MakeNode(Node::Kind::kValueProjection, Identity(), std::move(right));
      }
      case TokenType::kFilter:
        return ParseFilter(Identity());
      case TokenType::kLbrace:
        return ParseMultiSelectHash();
      case TokenType::kLparen: {
        ASSIGN_OR_RETURN(NodePtr inner, ParseExpression(0));
        RETURN_IF_ERROR(Expect(TokenType::kRparen));
        return inner;
      }
      case TokenType::kFlatten:
        return ParseFlatten(Identity());
      case TokenType::kNot: {
        ASSIGN_OR_RETURN(NodePtr operand, ParseExpression(BindingPower(TokenType::kNot)));
        NodePtr node = MakeNode(Node::Kind::kNot);
        node->children.push_back(std::move(operand));
        return node;
      }
      case TokenType::kLbracket:
        if (Current() == TokenType::kNumber || Current() == TokenType::kColon) {
          ASSIGN_OR_RETURN(NodePtr right, ParseIndexOrSlice());
          return ProjectIfSlice(Identity(), std::move(right));
        }
        if (Current() == TokenType::kStar && Lookahead(1) == TokenType::kRbracket) {
          Advance();
          Advance();
          ASSIGN_OR_RETURN(NodePtr right, ParseProjectionRhs(BindingPower(TokenType::kStar)));
          return MakeNode(Node::Kind::kProjection, Identity(), std::move(right));
        }
        return ParseMultiSelectList();
      case TokenType::kCurrent:
        return Identity();
      case TokenType::kExpref: {
        ASSIGN_OR_RETURN(NodePtr operand, ParseExpression(BindingPower(TokenType::kExpref)));
        NodePtr node = MakeNode(Node::Kind::kExpref);
        node->children.push_back(std::move(operand));
        return node;
      }
      default:
        return ErrorAt(
            token, token.type == TokenType::kEof ? "expected an expression" : "unexpected token");
    }
  }

  // A token that continues the expression on its left.
  absl::StatusOr<NodePtr> Led(NodePtr left) {
    const Token& token = Token0();
    switch (token.type) {
      case TokenType::kDot: {
        Advance();
        if (Current() == TokenType::kStar) {
          Advance();
          ASSIGN_OR_RETURN(NodePtr right, ParseProjectionRhs(BindingPower(TokenType::kDot)));
          return MakeNode(Node::Kind::kValueProjection, std::move(left), std::move(right));
        }
        ASSIGN_OR_RETURN(NodePtr right, ParseDotRhs(BindingPower(TokenType::kDot)));
        if (left->kind == Node::Kind::kSubexpression) {
          left->children.push_back(std::move(right));
          return left;
        }
        return MakeNode(Node::Kind::kSubexpression, std::move(left), std::move(right));
      }
      case TokenType::kPipe:
      case TokenType::kOr:
      case TokenType::kAnd: {
        Advance();
        ASSIGN_OR_RETURN(NodePtr right, ParseExpression(BindingPower(token.type)));
        const Node::Kind kind = token.type == TokenType::kPipe ? Node::Kind::kPipe
                                : token.type == TokenType::kOr ? Node::Kind::kOr
                                                               : Node::Kind::kAnd;
        return MakeNode(kind, std::move(left), std::move(right));
      }
      case TokenType::kEq:
      case TokenType::kNe:
      case TokenType::kLt:
      case TokenType::kLte:
      case TokenType::kGt:
      case TokenType::kGte: {
        Advance();
        ASSIGN_OR_RETURN(NodePtr right, ParseExpression(BindingPower(token.type)));
        NodePtr node = MakeNode(Node::Kind::kComparator, std::move(left), std::move(right));
        node->comparator = ComparatorOf(token.type);
        return node;
      }
      case TokenType::kLparen:
        return ParseFunctionCall(std::move(left));
      case TokenType::kFilter:
        Advance();
        return ParseFilter(std::move(left));
      case TokenType::kFlatten:
        Advance();
        return ParseFlatten(std::move(left));
      case TokenType::kLbracket: {
        Advance();
        if (Current() == TokenType::kNumber || Current() == TokenType::kColon) {
          ASSIGN_OR_RETURN(NodePtr right, ParseIndexOrSlice());
          if (left->kind == Node::Kind::kIndexExpression) {
            // As in the reference implementation, `a[0][1:2]` slices without projecting.
            left->children.push_back(std::move(right));
            return left;
          }
          return ProjectIfSlice(std::move(left), std::move(right));
        }
        RETURN_IF_ERROR(Expect(TokenType::kStar));
        RETURN_IF_ERROR(Expect(TokenType::kRbracket));
        ASSIGN_OR_RETURN(NodePtr right, ParseProjectionRhs(BindingPower(TokenType::kStar)));
        return MakeNode(Node::Kind::kProjection, std::move(left), std::move(right));
      }
      default:
        return ErrorAt(token, "unexpected token");
    }
  }

  static Comparator ComparatorOf(TokenType type) {
    switch (type) {
      case TokenType::kNe:
        return Comparator::kNe;
      case TokenType::kLt:
        return Comparator::kLt;
      case TokenType::kLte:
        return Comparator::kLte;
      case TokenType::kGt:
        return Comparator::kGt;
      case TokenType::kGte:
        return Comparator::kGte;
      default:
        return Comparator::kEq;
    }
  }

  absl::StatusOr<NodePtr> ParseFunctionCall(NodePtr callee) {
    if (callee->kind != Node::Kind::kField) {
      return ErrorAt(Token0(), "only a plain identifier can be called as a function");
    }
    Advance();  // (
    NodePtr node = MakeNode(Node::Kind::kFunction);
    node->name = callee->name;
    node->function = FindFunction(node->name);
    // Like the reference implementation, a comma between arguments is optional.
    while (Current() != TokenType::kRparen) {
      ASSIGN_OR_RETURN(NodePtr argument, ParseExpression(0));
      if (Current() == TokenType::kComma) Advance();
      node->children.push_back(std::move(argument));
    }
    Advance();  // )
    return node;
  }

  absl::StatusOr<NodePtr> ParseFilter(NodePtr left) {
    ASSIGN_OR_RETURN(NodePtr condition, ParseExpression(0));
    RETURN_IF_ERROR(Expect(TokenType::kRbracket));
    NodePtr right;
    if (Current() == TokenType::kFlatten) {
      right = Identity();
    } else {
      ASSIGN_OR_RETURN(right, ParseProjectionRhs(BindingPower(TokenType::kFilter)));
    }
    NodePtr node = MakeNode(Node::Kind::kFilterProjection, std::move(left), std::move(right));
    node->children.push_back(std::move(condition));
    return node;
  }

  absl::StatusOr<NodePtr> ParseFlatten(NodePtr left) {
    NodePtr flatten = MakeNode(Node::Kind::kFlatten);
    flatten->children.push_back(std::move(left));
    ASSIGN_OR_RETURN(NodePtr right, ParseProjectionRhs(BindingPower(TokenType::kFlatten)));
    return MakeNode(Node::Kind::kProjection, std::move(flatten), std::move(right));
  }

  // After `[` when a number or `:` follows: `[2]` or a slice `[start:stop:step]`.
  absl::StatusOr<NodePtr> ParseIndexOrSlice() {
    if (Current() != TokenType::kColon && Lookahead(1) != TokenType::kColon) {
      NodePtr node = MakeNode(Node::Kind::kIndex);
      node->index = Token0().number;
      Advance();
      RETURN_IF_ERROR(Expect(TokenType::kRbracket));
      return node;
    }
    NodePtr node = MakeNode(Node::Kind::kSlice);
    size_t part = 0;
    while (Current() != TokenType::kRbracket) {
      if (Current() == TokenType::kColon) {
        if (++part == 3) return ErrorAt(Token0(), "a slice has at most three parts");
        Advance();
      } else if (Current() == TokenType::kNumber) {
        node->slice[part] = Token0().number;
        Advance();
      } else {
        return ErrorAt(Token0(), "expected a number, ':' or ']' in a slice");
      }
    }
    Advance();  // ]
    return node;
  }

  absl::StatusOr<NodePtr> ProjectIfSlice(NodePtr left, NodePtr right) {
    const bool is_slice = right->kind == Node::Kind::kSlice;
    NodePtr index = MakeNode(Node::Kind::kIndexExpression, std::move(left), std::move(right));
    if (!is_slice) return index;
    ASSIGN_OR_RETURN(NodePtr rhs, ParseProjectionRhs(BindingPower(TokenType::kStar)));
    return MakeNode(Node::Kind::kProjection, std::move(index), std::move(rhs));
  }

  absl::StatusOr<NodePtr> ParseMultiSelectList() {
    NodePtr node = MakeNode(Node::Kind::kMultiSelectList);
    while (true) {
      ASSIGN_OR_RETURN(NodePtr element, ParseExpression(0));
      node->children.push_back(std::move(element));
      if (Current() == TokenType::kRbracket) break;
      RETURN_IF_ERROR(Expect(TokenType::kComma));
    }
    Advance();  // ]
    return node;
  }

  absl::StatusOr<NodePtr> ParseMultiSelectHash() {
    NodePtr node = MakeNode(Node::Kind::kMultiSelectHash);
    while (true) {
      if (Current() != TokenType::kUnquotedIdentifier &&
          Current() != TokenType::kQuotedIdentifier) {
        return ErrorAt(Token0(), "expected a key name");
      }
      node->keys.push_back(Token0().text);
      Advance();
      RETURN_IF_ERROR(Expect(TokenType::kColon));
      ASSIGN_OR_RETURN(NodePtr value, ParseExpression(0));
      node->children.push_back(std::move(value));
      if (Current() == TokenType::kComma) {
        Advance();
      } else if (Current() == TokenType::kRbrace) {
        Advance();
        break;
      }
      // Otherwise the next key follows without a comma, which the reference accepts too.
    }
    return node;
  }

  // What may follow a projection: nothing (a token that stops it), `[...]`, `[?...]` or `.rhs`.
  absl::StatusOr<NodePtr> ParseProjectionRhs(int binding_power) {
    const TokenType current = Current();
    if (BindingPower(current) < kProjectionStop) return Identity();
    if (current == TokenType::kLbracket || current == TokenType::kFilter) {
      return ParseExpression(binding_power);
    }
    if (current == TokenType::kDot) {
      Advance();
      return ParseDotRhs(binding_power);
    }
    return ErrorAt(Token0(), "expected '.', '[' or '[?' after a projection");
  }

  // After `.`: an identifier (maybe a function call), `*`, `[a, b]` or `{k: v}`.
  absl::StatusOr<NodePtr> ParseDotRhs(int binding_power) {
    switch (Current()) {
      case TokenType::kUnquotedIdentifier:
      case TokenType::kQuotedIdentifier:
      case TokenType::kStar:
        return ParseExpression(binding_power);
      case TokenType::kLbracket:
        Advance();
        return ParseMultiSelectList();
      case TokenType::kLbrace:
        Advance();
        return ParseMultiSelectHash();
      default:
        return ErrorAt(Token0(), "expected an identifier, '*', '[' or '{' after '.'");
    }
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t index_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Expression::Node>> Parse(std::string_view expression) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(expression));
  return Parser(expression, std::move(tokens)).ParseAll();
}

}  // namespace berth::jmespath::internal
