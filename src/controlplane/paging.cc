#include "controlplane/paging.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"

namespace berth::controlplane {

namespace {

constexpr char kTop[] = "$top";
constexpr char kSkipToken[] = "$skiptoken";
constexpr char kSkip[] = "$skip";

bool IsPagingParameter(const std::string& name) {
  return absl::EqualsIgnoreCase(name, kTop) || absl::EqualsIgnoreCase(name, kSkipToken);
}

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string QueryEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<PageRequest> ParsePageRequest(const std::map<std::string, std::string>& query) {
  PageRequest request;
  for (const auto& [name, value] : query) {
    if (absl::EqualsIgnoreCase(name, kTop)) {
      int top = 0;
      if (!absl::SimpleAtoi(value, &top) || top < 1 || top > kMaxPageSize) {
        return InvalidField(kTop, absl::StrCat("must be an integer from 1 to ", kMaxPageSize,
                                               ", got \"", value, "\""));
      }
      request.top = top;
    } else if (absl::EqualsIgnoreCase(name, kSkipToken)) {
      request.skip_token = value;
    } else if (absl::EqualsIgnoreCase(name, kSkip)) {
      return InvalidField(kSkip,
                          "offsets are not supported; follow the answer's nextLink, which "
                          "carries a $skiptoken");
    }
  }
  return request;
}

nlohmann::json PageJson(Page page, const PageRequest& request, std::string_view request_path,
                        const std::map<std::string, std::string>& query, std::string_view host) {
  nlohmann::json body = {{"value", std::move(page.value)}};
  if (page.next_token.empty()) return body;
  std::vector<std::string> parameters;
  for (const auto& [name, value] : query) {
    if (IsPagingParameter(name)) continue;
    parameters.push_back(absl::StrCat(QueryEncode(name), "=", QueryEncode(value)));
  }
  parameters.push_back(absl::StrCat(kTop, "=", request.top));
  parameters.push_back(absl::StrCat(kSkipToken, "=", QueryEncode(page.next_token)));
  std::string link = std::string(request_path) + "?" + absl::StrJoin(parameters, "&");
  if (!host.empty()) link = "http://" + std::string(host) + link;
  body["nextLink"] = std::move(link);
  return body;
}

}  // namespace berth::controlplane
