#include "jmespath/lexer.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "jmespath/errors.h"

namespace berth::jmespath::internal {
namespace {

bool IsIdentifierStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentifierChar(char c) { return IsIdentifierStart(c) || IsDigit(c); }
bool IsWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  absl::StatusOr<std::vector<Token>> Run() {
    if (text_.empty()) return MakeError(ErrorKind::kSyntax, "the expression is empty");
    std::vector<Token> tokens;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      const size_t start = pos_;
      if (IsWhitespace(c)) {
        ++pos_;
        continue;
      }
      if (IsIdentifierStart(c)) {
        while (pos_ < text_.size() && IsIdentifierChar(text_[pos_])) ++pos_;
        tokens.push_back(Simple(TokenType::kUnquotedIdentifier, start));
        continue;
      }
      if (IsDigit(c) || c == '-') {
        ++pos_;
        while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
        if (pos_ - start == 1 && c == '-') return Error(start, "'-' must be followed by digits");
        Token token = Simple(TokenType::kNumber, start);
        auto [end, ec] =
            std::from_chars(token.text.data(), token.text.data() + token.text.size(), token.number);
        if (ec != std::errc()) return Error(start, "number out of range: " + token.text);
        tokens.push_back(std::move(token));
        continue;
      }
      switch (c) {
        case '.':
          tokens.push_back(Single(TokenType::kDot));
          continue;
        case '*':
          tokens.push_back(Single(TokenType::kStar));
          continue;
        case ']':
          tokens.push_back(Single(TokenType::kRbracket));
          continue;
        case ',':
          tokens.push_back(Single(TokenType::kComma));
          continue;
        case ':':
          tokens.push_back(Single(TokenType::kColon));
          continue;
        case '@':
          tokens.push_back(Single(TokenType::kCurrent));
          continue;
        case '(':
          tokens.push_back(Single(TokenType::kLparen));
          continue;
        case ')':
          tokens.push_back(Single(TokenType::kRparen));
          continue;
        case '{':
          tokens.push_back(Single(TokenType::kLbrace));
          continue;
        case '}':
          tokens.push_back(Single(TokenType::kRbrace));
          continue;
        case '[':
          if (Peek(1) == ']') {
            pos_ += 2;
            tokens.push_back(Simple(TokenType::kFlatten, start));
          } else if (Peek(1) == '?') {
            pos_ += 2;
            tokens.push_back(Simple(TokenType::kFilter, start));
          } else {
            tokens.push_back(Single(TokenType::kLbracket));
          }
          continue;
        case '|':
          tokens.push_back(OneOrTwo('|', TokenType::kOr, TokenType::kPipe));
          continue;
        case '&':
          tokens.push_back(OneOrTwo('&', TokenType::kAnd, TokenType::kExpref));
          continue;
        case '<':
          tokens.push_back(OneOrTwo('=', TokenType::kLte, TokenType::kLt));
          continue;
        case '>':
          tokens.push_back(OneOrTwo('=', TokenType::kGte, TokenType::kGt));
          continue;
        case '!':
          tokens.push_back(OneOrTwo('=', TokenType::kNe, TokenType::kNot));
          continue;
        case '=':
          if (Peek(1) != '=') return Error(start, "'=' is not an operator (did you mean '=='?)");
          pos_ += 2;
          tokens.push_back(Simple(TokenType::kEq, start));
          continue;
        case '\'': {
          auto raw = ConsumeUntil('\'');
          if (!raw.ok()) return raw.status();
          Token token = Simple(TokenType::kLiteral, start);
          token.value = ReplaceEscapedDelimiter(*raw, '\'');
          tokens.push_back(std::move(token));
          continue;
        }
        case '`': {
          auto literal = ConsumeLiteral(start);
          if (!literal.ok()) return literal.status();
          tokens.push_back(std::move(*literal));
          continue;
        }
        case '"': {
          auto identifier = ConsumeQuotedIdentifier(start);
          if (!identifier.ok()) return identifier.status();
          tokens.push_back(std::move(*identifier));
          continue;
        }
        default:
          return Error(start, absl::StrCat("unexpected character '", CharacterAt(start), "'"));
      }
    }
    Token eof;
    eof.type = TokenType::kEof;
    eof.start = text_.size();
    tokens.push_back(std::move(eof));
    return tokens;
  }

 private:
  char Peek(size_t ahead) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }

  Token Simple(TokenType type, size_t start) const {
    Token token;
    token.type = type;
    token.start = start;
    token.text = std::string(text_.substr(start, pos_ - start));
    return token;
  }

  Token Single(TokenType type) {
    ++pos_;
    return Simple(type, pos_ - 1);
  }

  Token OneOrTwo(char second, TokenType two, TokenType one) {
    const size_t start = pos_;
    if (Peek(1) == second) {
      pos_ += 2;
      return Simple(two, start);
    }
    ++pos_;
    return Simple(one, start);
  }

  // The whole UTF-8 character at `offset`, for messages.
  std::string CharacterAt(size_t offset) const {
    size_t end = offset + 1;
    while (end < text_.size() && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
    return std::string(text_.substr(offset, end - offset));
  }

  absl::Status Error(size_t offset, std::string_view what) const {
    return MakeError(ErrorKind::kSyntax,
                     absl::StrCat(AbslView(what), " at column ", ColumnOf(text_, offset), " of \"",
                                  AbslView(text_), "\""));
  }

  // The text up to the closing `delimiter` (pos_ is on the opening one). A backslash keeps
  // itself and the character after it, so an escaped delimiter does not close the text.
  absl::StatusOr<std::string> ConsumeUntil(char delimiter) {
    const size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        return Error(start, absl::StrCat("unclosed ", std::string(1, delimiter)));
      }
      char c = text_[pos_];
      if (c == delimiter) break;
      if (c == '\\') {
        out.push_back('\\');
        ++pos_;
        if (pos_ >= text_.size()) {
          return Error(start, absl::StrCat("unclosed ", std::string(1, delimiter)));
        }
        c = text_[pos_];
      }
      out.push_back(c);
      ++pos_;
    }
    ++pos_;  // the closing delimiter
    return out;
  }

  static std::string ReplaceEscapedDelimiter(const std::string& text, char delimiter) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == delimiter) {
        out.push_back(delimiter);
        ++i;
      } else {
        out.push_back(text[i]);
      }
    }
    return out;
  }

  absl::StatusOr<Token> ConsumeLiteral(size_t start) {
    auto raw = ConsumeUntil('`');
    if (!raw.ok()) return raw.status();
    const std::string lexeme = ReplaceEscapedDelimiter(*raw, '`');
    Token token = Simple(TokenType::kLiteral, start);
    token.value = Json::parse(lexeme, nullptr, /*allow_exceptions=*/false);
    if (!token.value.is_discarded()) return token;
    // Not JSON: the deprecated form `foo` means the string "foo" (JEP-12), as the reference
    // implementation still accepts.
    size_t first = 0;
    while (first < lexeme.size() &&
           (IsWhitespace(lexeme[first]) || lexeme[first] == '\v' || lexeme[first] == '\f')) {
      ++first;
    }
    token.value = Json::parse(absl::StrCat("\"", lexeme.substr(first), "\""), nullptr,
                              /*allow_exceptions=*/false);
    if (token.value.is_discarded() || !token.value.is_string()) {
      return Error(start, absl::StrCat("invalid JSON literal `", lexeme, "`"));
    }
    return token;
  }

  absl::StatusOr<Token> ConsumeQuotedIdentifier(size_t start) {
    auto raw = ConsumeUntil('"');
    if (!raw.ok()) return raw.status();
    const Json name = Json::parse(absl::StrCat("\"", *raw, "\""), nullptr,
                                  /*allow_exceptions=*/false);
    if (name.is_discarded() || !name.is_string()) {
      return Error(start, absl::StrCat("invalid quoted identifier \"", *raw, "\""));
    }
    Token token = Simple(TokenType::kQuotedIdentifier, start);
    token.text = name.get<std::string>();
    return token;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view expression) {
  return Lexer(expression).Run();
}

size_t ColumnOf(std::string_view expression, size_t byte_offset) {
  size_t column = 0;
  for (size_t i = 0; i < byte_offset && i < expression.size(); ++i) {
    if ((static_cast<unsigned char>(expression[i]) & 0xC0) != 0x80) ++column;
  }
  return column;
}

std::string_view TokenTypeName(TokenType type) {
  switch (type) {
    case TokenType::kEof:
      return "end of expression";
    case TokenType::kUnquotedIdentifier:
      return "identifier";
    case TokenType::kQuotedIdentifier:
      return "quoted identifier";
    case TokenType::kLiteral:
      return "literal";
    case TokenType::kNumber:
      return "number";
    case TokenType::kRbracket:
      return "']'";
    case TokenType::kRparen:
      return "')'";
    case TokenType::kComma:
      return "','";
    case TokenType::kRbrace:
      return "'}'";
    case TokenType::kColon:
      return "':'";
    case TokenType::kCurrent:
      return "'@'";
    case TokenType::kExpref:
      return "'&'";
    case TokenType::kPipe:
      return "'|'";
    case TokenType::kOr:
      return "'||'";
    case TokenType::kAnd:
      return "'&&'";
    case TokenType::kEq:
      return "'=='";
    case TokenType::kNe:
      return "'!='";
    case TokenType::kLt:
      return "'<'";
    case TokenType::kLte:
      return "'<='";
    case TokenType::kGt:
      return "'>'";
    case TokenType::kGte:
      return "'>='";
    case TokenType::kFlatten:
      return "'[]'";
    case TokenType::kStar:
      return "'*'";
    case TokenType::kFilter:
      return "'[?'";
    case TokenType::kDot:
      return "'.'";
    case TokenType::kNot:
      return "'!'";
    case TokenType::kLbrace:
      return "'{'";
    case TokenType::kLbracket:
      return "'['";
    case TokenType::kLparen:
      return "'('";
  }
  return "token";
}

}  // namespace berth::jmespath::internal
