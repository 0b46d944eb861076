#include "common/errors.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace berth {
namespace {
constexpr char kTargetUrl[] = "berth.dev/error-target";
}

absl::Status InvalidField(std::string_view path, std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(
      path.empty() ? std::string(message) : std::string(path) + ": " + std::string(message));
  return WithTarget(std::move(status), path);
}

absl::Status WithTarget(absl::Status status, std::string_view path) {
  if (!path.empty()) status.SetPayload(kTargetUrl, absl::Cord(std::string(path)));
  return status;
}

std::string ErrorTarget(const absl::Status& status) {
  auto payload = status.GetPayload(kTargetUrl);
  return payload ? std::string(*payload) : std::string();
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), std::string(context) + ": " + std::string(status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace berth
