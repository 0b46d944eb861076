#include "cli/api_client.h"

// clang-format off
// Asio on Boost 1.74 uses std::exchange without including <utility>.
#include <utility>
// clang-format on

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdint>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/random.h"

namespace berth::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr char kHttpStatusUrl[] = "berth.dev/http-status";
constexpr char kUserAgent[] = "berth-cli/0.1.0";
// Scoring answers and logs can be large; the limit only protects against a runaway peer.
constexpr std::uint64_t kMaxResponseBody = std::uint64_t{1} << 30;
constexpr size_t kMaxBodyInMessage = 500;

std::string Seconds(std::chrono::milliseconds d) {
  return absl::StrCat(std::chrono::duration_cast<std::chrono::seconds>(d).count(), " s");
}

// Runs the io_context until the pending operation completes, then makes it reusable.
void RunPending(asio::io_context& ioc) {
  ioc.run();
  ioc.restart();
}

absl::StatusCode CodeForHttpStatus(int status, bool create) {
  switch (status) {
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    case 409:
      return create ? absl::StatusCode::kAlreadyExists : absl::StatusCode::kFailedPrecondition;
    case 424:
      return absl::StatusCode::kFailedPrecondition;
    case 413:
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 502:
    case 503:
      return absl::StatusCode::kUnavailable;
    default:
      if (status >= 500) return absl::StatusCode::kInternal;
      if (status >= 400) return absl::StatusCode::kFailedPrecondition;
      return absl::StatusCode::kUnknown;
  }
}

}  // namespace

std::string HttpUrl::ToString() const {
  std::string out = "http://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != "80") absl::StrAppend(&out, ":", port);
  out += target;
  return out;
}

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url) {
  const std::string text(url);
  const std::string lower = absl::AsciiStrToLower(text);
  if (absl::StartsWith(lower, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text,
                     "\": https:// is not supported; berth speaks plain http:// (put a TLS "
                     "terminating proxy in front of berthd for remote access)"));
  }
  if (!absl::StartsWith(lower, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\": expected a URL of the form http://host[:port][/path]"));
  }
  std::string rest = text.substr(7);
  if (size_t hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);
  size_t path_start = rest.find_first_of("/?");
  std::string authority = rest.substr(0, path_start);
  HttpUrl out;
  out.target = path_start == std::string::npos ? "/" : rest.substr(path_start);
  if (out.target.front() == '?') out.target.insert(0, "/");
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": unterminated IPv6 address"));
    }
    out.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": malformed host"));
      }
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty() || out.host.find('@') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\": missing or malformed host"));
  }
  if (port.empty()) {
    out.port = "80";
  } else {
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\": invalid port \"", port, "\""));
    }
    out.port = std::to_string(value);
  }
  return out;
}

std::string EncodeComponent(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, std::string(name))) return value;
  }
  return "";
}

absl::StatusOr<HttpResponse> SendHttp(const HttpUrl& server, const HttpRequest& request,
                                      std::chrono::milliseconds connect_timeout) {
  const std::string where = HttpUrl{server.host, server.port, ""}.ToString();
  http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) {
    return absl::InvalidArgumentError(absl::StrCat("unknown HTTP method ", request.method));
  }
  asio::io_context ioc;
  boost::system::error_code ec;

  // Name resolution has no stream to carry a deadline; run it with one and cancel on expiry.
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  bool resolved = false;
  resolver.async_resolve(server.host, server.port,
                         [&](const boost::system::error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           resolved = true;
                         });
  ioc.run_for(connect_timeout);
  if (!resolved) {
    resolver.cancel();
    RunPending(ioc);
    return absl::DeadlineExceededError(
        absl::StrCat("timed out resolving ", server.host, " after ", Seconds(connect_timeout)));
  }
  ioc.restart();
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", server.host, ": ", ec.message()));
  }

  beast::tcp_stream stream(ioc);
  stream.expires_after(connect_timeout);
  stream.async_connect(endpoints,
                       [&](const boost::system::error_code& e, const tcp::endpoint&) { ec = e; });
  RunPending(ioc);
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(
        absl::StrCat("timed out connecting to ", where, " after ", Seconds(connect_timeout)));
  }
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", where, ": ", ec.message()));
  }

  http::request<http::string_body> req{verb, request.target.empty() ? "/" : request.target, 11};
  std::string host_header =
      server.host.find(':') != std::string::npos ? "[" + server.host + "]" : server.host;
  if (server.port != "80") absl::StrAppend(&host_header, ":", server.port);
  req.set(http::field::host, host_header);
  req.set(http::field::user_agent, kUserAgent);
  for (const auto& [name, value] : request.headers) req.set(name, value);
  req.keep_alive(false);
  req.body() = request.body;
  req.prepare_payload();

  // One deadline covers sending the request and reading the whole answer.
  stream.expires_after(request.timeout);
  http::async_write(stream, req, [&](const boost::system::error_code& e, size_t) { ec = e; });
  RunPending(ioc);
  if (!ec) {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBody);
    if (verb == http::verb::head) parser.skip(true);
    http::async_read(stream, buffer, parser,
                     [&](const boost::system::error_code& e, size_t) { ec = e; });
    RunPending(ioc);
    if (!ec) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      http::response<http::string_body> res = parser.release();
      HttpResponse out;
      out.status = static_cast<int>(res.result_int());
      for (const auto& field : res) {
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
      }
      out.body = std::move(res.body());
      return out;
    }
  }
  if (ec == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat("no answer from ", where, " within ",
                                                    Seconds(request.timeout), " (", request.method,
                                                    " ", request.target, ")"));
  }
  return absl::UnavailableError(
      absl::StrCat(request.method, " ", where, request.target, " failed: ", ec.message()));
}

absl::Status StatusFromResponse(const HttpResponse& response, bool create) {
  if (response.status >= 200 && response.status < 300) return absl::OkStatus();
  std::string message;
  std::string target;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error")) {
    const nlohmann::json& error = body["error"];
    if (error.is_object()) {
      if (auto it = error.find("message"); it != error.end() && it->is_string()) message = *it;
      if (auto it = error.find("target"); it != error.end() && it->is_string()) target = *it;
    } else if (error.is_string()) {
      message = error.get<std::string>();
    }
  }
  if (message.empty()) {
    message = absl::StrCat(
        "HTTP ", response.status, " ",
        std::string(http::obsolete_reason(static_cast<http::status>(response.status))));
    std::string text(absl::StripAsciiWhitespace(response.body));
    if (!text.empty()) {
      if (text.size() > kMaxBodyInMessage) text = text.substr(0, kMaxBodyInMessage) + "...";
      absl::StrAppend(&message, ": ", text);
    }
  }
  absl::Status status(CodeForHttpStatus(response.status, create), message);
  status.SetPayload(kHttpStatusUrl, absl::Cord(std::to_string(response.status)));
  return WithTarget(std::move(status), target);
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  auto payload = status.GetPayload(kHttpStatusUrl);
  if (!payload) return std::nullopt;
  std::string text(*payload);
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

absl::StatusOr<ApiClient> ApiClient::Create(const ClientConfig& config) {
  absl::StatusOr<HttpUrl> url = ParseHttpUrl(config.url);
  if (!url.ok()) return Annotate(url.status(), "server URL");
  // The URL's path, if any, is a prefix (berthd behind a path-routing proxy).
  while (!url->target.empty() && url->target.back() == '/') url->target.pop_back();
  if (url->target.find('?') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("server URL \"", config.url, "\" must not have a query"));
  }
  return ApiClient(*std::move(url), config.token);
}

absl::StatusOr<HttpResponse> ApiClient::Send(std::string method, std::string_view path,
                                             std::string body, std::string content_type,
                                             std::string accept,
                                             std::chrono::milliseconds timeout) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = absl::StrCat(server_.target, "/api/v1", std::string(path));
  request.headers = {{"Authorization", "Bearer " + token_},
                     {"Accept", std::move(accept)},
                     {"x-ms-client-request-id", NewGuid()}};
  if (!content_type.empty()) request.headers.emplace_back("Content-Type", std::move(content_type));
  request.body = std::move(body);
  request.timeout = timeout;
  absl::StatusOr<HttpResponse> response = SendHttp(server_, request);
  if (!response.ok() && response.status().code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(
        absl::StrCat(response.status().message(),
                     " (is berthd running there? set its address with --url or BERTH_URL)"));
  }
  return response;
}

absl::StatusOr<nlohmann::json> ApiClient::SendJson(std::string method, std::string_view path,
                                                   const nlohmann::json* body, bool create) {
  std::string text;
  std::string content_type;
  if (body != nullptr) {
    // Invalid UTF-8 from a user's file must not throw; it is replaced, as the server would.
    text = body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    content_type = "application/json";
  }
  absl::StatusOr<HttpResponse> response =
      Send(std::move(method), path, std::move(text), std::move(content_type), "application/json",
           kRequestTimeout);
  if (!response.ok()) return response.status();
  if (absl::Status status = StatusFromResponse(*response, create); !status.ok()) return status;
  if (absl::StripAsciiWhitespace(response->body).empty()) return nlohmann::json();
  nlohmann::json out = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    return absl::InternalError(
        absl::StrCat("berthd answered ", std::string(path), " with a body that is not JSON"));
  }
  return out;
}

absl::StatusOr<nlohmann::json> ApiClient::Get(std::string_view path) {
  return SendJson("GET", path, nullptr, false);
}

absl::StatusOr<std::string> NextLinkPath(std::string_view next_link) {
  std::string_view rest = next_link;
  // Drop "scheme://authority": only the path and query are followed.
  if (size_t scheme = rest.find("://"); scheme != std::string_view::npos) {
    rest.remove_prefix(scheme + 3);
    size_t path = rest.find('/');
    rest = path == std::string_view::npos ? std::string_view() : rest.substr(path);
  }
  constexpr std::string_view kApi = "/api/v1/";
  size_t api = rest.find(kApi);
  if (api == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("berthd answered a list with a nextLink that names no /api/v1 resource: \"",
                     std::string(next_link), "\""));
  }
  return std::string(rest.substr(api + kApi.size() - 1));
}

absl::StatusOr<nlohmann::json> ApiClient::ListAll(std::string_view path) {
  nlohmann::json items = nlohmann::json::array();
  std::set<std::string> followed;
  std::string next =
      absl::StrCat(std::string(path), path.find('?') == std::string_view::npos ? "?" : "&",
                   "$top=", kListPageSize);
  while (true) {
    absl::StatusOr<nlohmann::json> page = Get(next);
    if (!page.ok()) return page.status();
    if (!page->is_object() || !page->contains("value") || !(*page)["value"].is_array()) {
      return absl::InternalError(
          absl::StrCat("berthd answered GET ", next, " with no \"value\" list"));
    }
    for (nlohmann::json& item : (*page)["value"]) items.push_back(std::move(item));
    auto link = page->find("nextLink");
    if (link == page->end() || link->is_null()) break;
    if (!link->is_string()) {
      return absl::InternalError(
          absl::StrCat("berthd answered GET ", next, " with a nextLink that is not a string"));
    }
    if (link->get_ref<const std::string&>().empty()) break;
    absl::StatusOr<std::string> link_path = NextLinkPath(link->get<std::string>());
    if (!link_path.ok()) return link_path.status();
    // A server that hands out the same page twice would otherwise keep the CLI looping.
    if (!followed.insert(*link_path).second) {
      return absl::InternalError(
          absl::StrCat("berthd's nextLink repeats a page already read: ", *link_path));
    }
    next = *std::move(link_path);
  }
  return items;
}

absl::StatusOr<nlohmann::json> ApiClient::Post(std::string_view path, const nlohmann::json& body,
                                               bool create) {
  return SendJson("POST", path, body.is_null() ? nullptr : &body, create);
}

absl::StatusOr<nlohmann::json> ApiClient::Put(std::string_view path, const nlohmann::json& body) {
  return SendJson("PUT", path, &body, false);
}

absl::StatusOr<nlohmann::json> ApiClient::Patch(std::string_view path, const nlohmann::json& body) {
  return SendJson("PATCH", path, &body, false);
}

absl::StatusOr<nlohmann::json> ApiClient::Delete(std::string_view path) {
  return SendJson("DELETE", path, nullptr, false);
}

absl::StatusOr<std::string> ApiClient::GetText(std::string_view path) {
  return GetBody(path, "text/plain", kRequestTimeout);
}

absl::StatusOr<std::string> ApiClient::GetBytes(std::string_view path, std::string accept) {
  return GetBody(path, std::move(accept), kUploadTimeout);
}

absl::StatusOr<std::string> ApiClient::GetBody(std::string_view path, std::string accept,
                                               std::chrono::milliseconds timeout) {
  absl::StatusOr<HttpResponse> response = Send("GET", path, "", "", std::move(accept), timeout);
  if (!response.ok()) return response.status();
  if (absl::Status status = StatusFromResponse(*response); !status.ok()) return status;
  return std::move(response->body);
}

absl::StatusOr<bool> ApiClient::HasArtifact(std::string_view digest) {
  absl::StatusOr<HttpResponse> response =
      Send("HEAD", "/artifacts/" + EncodeComponent(digest), "", "", "*/*", kRequestTimeout);
  if (!response.ok()) return response.status();
  if (response->status == 404) return false;
  if (absl::Status status = StatusFromResponse(*response); !status.ok()) return status;
  return true;
}

absl::Status ApiClient::PutArtifact(std::string_view digest, const std::string& tar) {
  absl::StatusOr<HttpResponse> response =
      Send("PUT", "/artifacts/" + EncodeComponent(digest), tar, "application/x-tar",
           "application/json", kUploadTimeout);
  if (!response.ok()) return response.status();
  return StatusFromResponse(*response);
}

}  // namespace berth::cli
