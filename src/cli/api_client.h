#pragma once
// A synchronous HTTP/1.1 client (Boost.Beast, plain http:// only) for berthd's management API
// (docs/api.md) and for scoring requests on the data plane. One connection per request: the CLI
// makes few calls and berthd runs on loopback, so pooling would buy nothing.
//
// Non-2xx answers become an absl::Status carrying the server's `error.message`, its
// `error.target` (see ErrorTarget) and the HTTP status (see HttpStatusOf).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/config.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// An http:// URL split into what a request needs.
struct HttpUrl {
  std::string host;
  std::string port;    // "80" when the URL has none
  std::string target;  // path and query as written, at least "/"
  std::string ToString() const;
};

// Parses "http://host[:port][/path]". https:// and other schemes are INVALID_ARGUMENT.
absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url);

// Percent-encodes one path segment or query value (RFC 3986 unreserved characters and ':'
// stay as they are).
std::string EncodeComponent(std::string_view text);

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header of that name (case-insensitive), or "".
  std::string Header(std::string_view name) const;
};

// The `$top` of the CLI's lists: berthd's largest page, so a big fleet takes few round trips.
inline constexpr int kListPageSize = 1000;

inline constexpr std::chrono::seconds kConnectTimeout{5};
inline constexpr std::chrono::seconds kRequestTimeout{60};
inline constexpr std::chrono::minutes kUploadTimeout{10};
inline constexpr std::chrono::minutes kScoringTimeout{5};

// Sends one request on a new connection and reads the whole answer. Connection failures and
// timeouts are UNAVAILABLE / DEADLINE_EXCEEDED naming the server; any HTTP status is a result.
absl::StatusOr<HttpResponse> SendHttp(const HttpUrl& server, const HttpRequest& request,
                                      std::chrono::milliseconds connect_timeout = kConnectTimeout);

// The error for a non-2xx answer (OK for 2xx). `create` tells a 409 from a create (the resource
// exists: ALREADY_EXISTS) from other conflicts (FAILED_PRECONDITION).
absl::Status StatusFromResponse(const HttpResponse& response, bool create = false);

// The HTTP status an error from StatusFromResponse carries, or nullopt.
std::optional<int> HttpStatusOf(const absl::Status& status);

// The part of a list's `nextLink` below /api/v1 ("/online-endpoints?$top=...&$skiptoken=..."):
// the link may be absolute (http://host/api/v1/...) or a path. INVALID_ARGUMENT when it names
// no /api/v1 resource.
absl::StatusOr<std::string> NextLinkPath(std::string_view next_link);

// berthd's management API at /api/v1, authenticated with the admin token.
class ApiClient {
 public:
  static absl::StatusOr<ApiClient> Create(const ClientConfig& config);

  const HttpUrl& server() const { return server_; }

  // `path` is below /api/v1, e.g. "/online-endpoints/my-endpoint", already encoded. Answers
  // with no body (204) give a null JSON value.
  absl::StatusOr<nlohmann::json> Get(std::string_view path);
  // Every item of a list: GETs `path` in pages of kListPageSize and then each page's
  // `nextLink` (docs/api.md, "Lists and paging"), whose path and query below /api/v1 are sent
  // to this client's server (never to the link's host). A nextLink that repeats one already
  // followed is an error.
  absl::StatusOr<nlohmann::json> ListAll(std::string_view path);
  // A null `body` sends no body.
  absl::StatusOr<nlohmann::json> Post(std::string_view path,
                                      const nlohmann::json& body = nlohmann::json(),
                                      bool create = false);
  absl::StatusOr<nlohmann::json> Put(std::string_view path, const nlohmann::json& body);
  absl::StatusOr<nlohmann::json> Patch(std::string_view path, const nlohmann::json& body);
  absl::StatusOr<nlohmann::json> Delete(std::string_view path);
  // A text/plain answer (logs).
  absl::StatusOr<std::string> GetText(std::string_view path);
  // An answer of any type, e.g. application/x-tar, read whole within kUploadTimeout.
  absl::StatusOr<std::string> GetBytes(std::string_view path, std::string accept);

  // HEAD /api/v1/artifacts/<digest>: true for 200, false for 404.
  absl::StatusOr<bool> HasArtifact(std::string_view digest);
  // PUT /api/v1/artifacts/<digest> with the tar bytes.
  absl::Status PutArtifact(std::string_view digest, const std::string& tar);

 private:
  ApiClient(HttpUrl server, std::string token)
      : server_(std::move(server)), token_(std::move(token)) {}

  absl::StatusOr<HttpResponse> Send(std::string method, std::string_view path, std::string body,
                                    std::string content_type, std::string accept,
                                    std::chrono::milliseconds timeout);
  absl::StatusOr<std::string> GetBody(std::string_view path, std::string accept,
                                      std::chrono::milliseconds timeout);
  absl::StatusOr<nlohmann::json> SendJson(std::string method, std::string_view path,
                                          const nlohmann::json* body, bool create);

  HttpUrl server_;
  std::string token_;
};

}  // namespace berth::cli
