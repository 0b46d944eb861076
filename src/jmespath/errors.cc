#include "jmespath/errors.h"

#include <string>

#include "absl/strings/cord.h"

namespace berth::jmespath {
namespace {
constexpr char kErrorKindUrl[] = "berth.dev/jmespath-error-kind";
constexpr ErrorKind kAllKinds[] = {ErrorKind::kSyntax, ErrorKind::kInvalidType,
                                   ErrorKind::kInvalidArity, ErrorKind::kUnknownFunction,
                                   ErrorKind::kInvalidValue};
}  // namespace

std::string_view KindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSyntax:
      return "syntax";
    case ErrorKind::kInvalidType:
      return "invalid-type";
    case ErrorKind::kInvalidArity:
      return "invalid-arity";
    case ErrorKind::kUnknownFunction:
      return "unknown-function";
    case ErrorKind::kInvalidValue:
      return "invalid-value";
  }
  return "unknown";
}

std::optional<ErrorKind> KindOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  auto payload = status.GetPayload(kErrorKindUrl);
  if (!payload) return std::nullopt;
  const std::string name(*payload);
  for (ErrorKind kind : kAllKinds) {
    if (KindName(kind) == name) return kind;
  }
  return std::nullopt;
}

namespace internal {

absl::Status MakeError(ErrorKind kind, std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(AbslView(message));
  status.SetPayload(kErrorKindUrl, absl::Cord(std::string(KindName(kind))));
  return status;
}

}  // namespace internal
}  // namespace berth::jmespath
