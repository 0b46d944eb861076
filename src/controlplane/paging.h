#pragma once
// Paging of the management API's lists (docs/api.md, "Lists and paging"), in Azure's shape:
// `{"value": [...], "nextLink": "<url of the next page>"}`, no nextLink on the last page.
//
// A page holds at most `$top` items (default kDefaultPageSize, at most kMaxPageSize) that sort
// after `$skiptoken`, the continuation token nextLink carries: the key of the previous page's
// last item (a name), not an offset, so records created or deleted between two pages make
// none of the others repeat or go missing. Clients treat the token as opaque.

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::controlplane {

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// What the client asked for.
struct PageRequest {
  int top = kDefaultPageSize;
  std::string skip_token;  // "" = from the first item
};

// One page of views and the token of the next page ("" on the last page).
struct Page {
  nlohmann::json value = nlohmann::json::array();
  std::string next_token;
};

// Reads `$top` and `$skiptoken` from a decoded query (parameter names case-insensitive, as
// in Azure's `$skipToken`). INVALID_ARGUMENT naming the parameter for a `$top` that is not an
// integer in 1..kMaxPageSize, and for `$skip` (offsets shift when records come and go; follow
// nextLink instead).
absl::StatusOr<PageRequest> ParsePageRequest(const std::map<std::string, std::string>& query);

// The answer's body: `{"value": page.value}` plus, when there is a next page, `nextLink`:
// `request_path` with the query's other parameters, `$top` and the next `$skiptoken`, made
// absolute with `host` (the request's Host header) unless that is empty.
nlohmann::json PageJson(Page page, const PageRequest& request, std::string_view request_path,
                        const std::map<std::string, std::string>& query, std::string_view host);

// The slice of `sorted` (ascending by key) that `request` asks for: at most `top` items among
// those for which `after_token(item)` holds (a suffix of `sorted`: the items whose key sorts
// after the token). `more` tells whether items follow the slice.
template <typename T>
struct Slice {
  std::span<const T> items;
  bool more = false;
};
template <typename T, typename AfterToken>
Slice<T> PageOf(const std::vector<T>& sorted, const PageRequest& request, AfterToken after_token) {
  auto first = sorted.begin();
  if (!request.skip_token.empty()) {
    first = std::partition_point(sorted.begin(), sorted.end(),
                                 [&](const T& item) { return !after_token(item); });
  }
  size_t left = static_cast<size_t>(sorted.end() - first);
  size_t count = std::min(left, static_cast<size_t>(std::max(request.top, 1)));
  return {std::span<const T>(sorted.data() + (first - sorted.begin()), count), count < left};
}

}  // namespace berth::controlplane
