#include "studio/studio_handler.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "http/cookies.h"
#include "http/errors.h"
#include "http/server.h"
#include "nlohmann/json.hpp"

namespace berth::studio {

namespace asio = http::asio;
namespace bhttp = http::bhttp;
using http::Request;
using http::Response;
using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/studio/";
constexpr std::string_view kAssets = "/studio/assets/";
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

void SetSecurityHeaders(Response& res) {
  res.set("Content-Security-Policy", kContentSecurityPolicy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
}

Response Redirect(const Request& req, bhttp::status status, std::string_view location) {
  Response res{status, req.version()};
  res.set(bhttp::field::location, location);
  res.set(bhttp::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response MethodNotAllowed(const Request& req, std::string_view allow) {
  Response res = http::ErrorResponse(req, bhttp::status::method_not_allowed, "MethodNotAllowed",
                                     std::string(req.method_string()) + " is not allowed here");
  res.set(bhttp::field::allow, allow);
  return res;
}

std::string Rfc3339(SystemTime time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromChrono(time), absl::UTCTimeZone());
}

// `Secure` only where the browser reached berthd over TLS: berthd has no TLS listener, so that
// means through a TLS-terminating proxy that says so.
bool CameThroughTls(const Request& req) {
  auto proto = req.find("X-Forwarded-Proto");
  return proto != req.end() &&
         absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(std::string(proto->value())), "https");
}

std::string SessionCookie(const Request& req, std::string_view value, std::chrono::seconds age) {
  return std::string(kSessionCookie) + "=" + std::string(value) +
         "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" + std::to_string(age.count()) +
         (CameThroughTls(req) ? "; Secure" : "");
}

Response SessionReply(const Request& req, const auth::SessionGrant& grant) {
  json body = {{"csrf_token", grant.csrf_token}, {"expires_at", Rfc3339(grant.expires_at)}};
  return http::MakeResponse(req, bhttp::status::ok, body.dump(), "application/json");
}

bool EtagMatches(const Request& req, const std::string& etag) {
  auto it = req.find(bhttp::field::if_none_match);
  if (it == req.end()) return false;
  for (absl::string_view tag : absl::StrSplit(std::string(it->value()), ',')) {
    tag = absl::StripAsciiWhitespace(tag);
    if (absl::StartsWith(tag, "W/")) tag.remove_prefix(2);  // weak comparison, RFC 9110 13.1.2
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> LiveSession(auth::SessionStore& sessions,
                                       const http::RequestHead& head) {
  std::optional<std::string> id = http::CookieValue(head, kSessionCookie);
  if (!id || id->empty() || !sessions.Touch(*id)) return std::nullopt;
  return id;
}

StudioHandler::StudioHandler(StaticFiles& files, auth::SessionStore& sessions,
                             asio::thread_pool& blocking_pool)
    : files_(files), sessions_(sessions), blocking_pool_(blocking_pool) {}

bool StudioHandler::Matches(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/studio" || path.starts_with(kPrefix);
}

http::Awaitable<Response> StudioHandler::Handle(const Request& req) {
  std::string_view target = req.target();
  const std::string path(target.substr(0, target.find('?')));
  Response res;
  if (path == "/studio") {
    res = Redirect(req, bhttp::status::moved_permanently, kPrefix);
  } else if (path == "/studio/api/session") {
    res = SessionApi(req);
    res.set(bhttp::field::cache_control, "no-store");
  } else if (path.starts_with("/studio/api/")) {
    res = http::ErrorResponse(req, absl::NotFoundError("no studio route " + path));
  } else if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    res = MethodNotAllowed(req, "GET, HEAD");
  } else {
    std::string relative;
    bool page = !path.starts_with(kAssets);
    if (!page) {
      relative = path.substr(kPrefix.size());  // "assets/..."
    } else {
      std::string name = path.substr(kPrefix.size());
      if (name.empty()) name = "index";
      if (name.find('/') != std::string::npos || !StaticFiles::IsPlainRelativePath(name)) {
        res = http::ErrorResponse(req, absl::NotFoundError("no studio page " + path));
      } else if (name != "signin" && !LiveSession(sessions_, req)) {
        res = Redirect(req, bhttp::status::found, "/studio/signin");
      } else {
        relative = name + ".html";
      }
    }
    if (!relative.empty()) {
      res = co_await asio::co_spawn(
          blocking_pool_,
          [this, &req, &relative, page]() -> http::Awaitable<Response> {
            co_return ServeFile(req, relative, page);
          },
          asio::use_awaitable);
    }
  }
  SetSecurityHeaders(res);
  co_return res;
}

Response StudioHandler::ServeFile(const Request& req, const std::string& relative, bool page) {
  absl::StatusOr<std::shared_ptr<const StaticFile>> file = files_.Read(relative);
  if (!file.ok()) {
    return http::ErrorResponse(req, file.status().code() == absl::StatusCode::kNotFound
                                        ? absl::NotFoundError("no studio file /studio/" + relative)
                                        : file.status());
  }
  const StaticFile& found = **file;
  Response res;
  if (EtagMatches(req, found.etag)) {
    res = Response{bhttp::status::not_modified, req.version()};
    res.keep_alive(req.keep_alive());
  } else {
    res = http::MakeResponse(req, bhttp::status::ok, found.content, found.content_type);
    if (req.method() == bhttp::verb::head) {
      res.body().clear();
      res.content_length(found.content.size());
    }
  }
  res.set(bhttp::field::etag, found.etag);
  res.set(bhttp::field::cache_control, page ? "no-store" : "no-cache");
  return res;
}

Response StudioHandler::SessionApi(const Request& req) {
  switch (req.method()) {
    case bhttp::verb::post: {
      json body = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
      if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) {
        return http::ErrorResponse(
            req,
            absl::InvalidArgumentError("the body must be JSON {\"token\": \"<admin token>\"}"));
      }
      absl::StatusOr<auth::SessionGrant> grant =
          sessions_.SignIn(body["token"].get_ref<const std::string&>());
      if (!grant.ok()) {
        Response res = http::ErrorResponse(req, grant.status());
        if (auto wait = sessions_.ThrottledFor()) {
          res.set(bhttp::field::retry_after, std::to_string(wait->count()));
        }
        return res;
      }
      Response res = SessionReply(req, *grant);
      res.set(bhttp::field::set_cookie, SessionCookie(req, grant->session_id, grant->max_age));
      return res;
    }
    case bhttp::verb::get: {
      std::optional<std::string> id = http::CookieValue(req, kSessionCookie);
      std::optional<auth::SessionGrant> grant;
      if (id && !id->empty()) grant = sessions_.Touch(*id);
      if (!grant) {
        return http::ErrorResponse(req, absl::UnauthenticatedError("not signed in"));
      }
      return SessionReply(req, *grant);
    }
    case bhttp::verb::delete_: {
      std::optional<std::string> id = LiveSession(sessions_, req);
      if (!id) return http::ErrorResponse(req, absl::UnauthenticatedError("not signed in"));
      auto csrf = req.find(kCsrfHeader);
      if (csrf == req.end() || !sessions_.CsrfMatches(*id, std::string(csrf->value()))) {
        return http::ErrorResponse(req, bhttp::status::forbidden, "Forbidden",
                                   "missing or wrong CSRF token");
      }
      sessions_.SignOut(*id);
      Response res{bhttp::status::no_content, req.version()};
      res.keep_alive(req.keep_alive());
      res.set(bhttp::field::set_cookie, SessionCookie(req, "", std::chrono::seconds(0)));
      return res;
    }
    default:
      return MethodNotAllowed(req, "GET, POST, DELETE");
  }
}

}  // namespace berth::studio
