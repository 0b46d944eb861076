#pragma once
// StudioHandler: berthd's /studio routes (docs/api.md, "Studio"): the studio's pages and assets
// from StaticFiles, and the sign-in session API at /studio/api/session.
//
// Routes: `/studio` redirects to `/studio/`; `/studio/` is index.html, `/studio/signin`
// signin.html, `/studio/<name>` <name>.html; pages other than the sign-in page need a live
// session (else 302 to /studio/signin). `/studio/assets/<path>` are public. Every answer carries
// the studio's security headers (a strict Content-Security-Policy among them); files carry a
// strong ETag and answer a matching If-None-Match with 304.
//
// Threading: Handle() may be called concurrently from any event-loop thread; file reads run on
// `blocking_pool`, session calls (in memory) inline. The files, sessions and pool are not owned
// and must outlive the handler.

#include <string_view>

#include "auth/session_store.h"
#include "http/asio.h"
#include "studio/static_files.h"

namespace berth::studio {

// The cookie that carries a studio session id.
inline constexpr char kSessionCookie[] = "berth_studio";
// The header a cookie-authenticated write repeats the session's CSRF token in.
inline constexpr char kCsrfHeader[] = "X-CSRF-Token";

class StudioHandler {
 public:
  StudioHandler(StaticFiles& files, auth::SessionStore& sessions,
                http::asio::thread_pool& blocking_pool);

  // `/studio` and everything below it.
  static bool Matches(std::string_view target);

  http::Awaitable<http::Response> Handle(const http::Request& req);

 private:
  http::Response SessionApi(const http::Request& req);
  // Reads and answers one file (blocking). `page`: an HTML page, never cached by the browser.
  http::Response ServeFile(const http::Request& req, const std::string& relative, bool page);

  StaticFiles& files_;
  auth::SessionStore& sessions_;
  http::asio::thread_pool& blocking_pool_;
};

// The id of the live studio session `head`'s cookie names, its idle time restarted; nullopt when
// it carries none or a dead one.
std::optional<std::string> LiveSession(auth::SessionStore& sessions, const http::RequestHead& head);

}  // namespace berth::studio
