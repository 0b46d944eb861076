#pragma once
// SessionStore: the studio's sign-in sessions (docs/api.md, "Studio").
//
// The admin token is exchanged once for a session: a random session id (sent back as an HttpOnly
// cookie) and a random CSRF token (which the studio's scripts echo in `X-CSRF-Token` on writes).
// A session ends 8 h after sign-in, after 1 h without a request, or at sign-out. Sessions live in
// memory only, so restarting berthd signs everyone out.
//
// Failed sign-ins are throttled globally (not per client: berthd serves one admin): after
// `max_failures` wrong tokens within one `failure_window`, counted from the first of them, every
// sign-in is refused with RESOURCE_EXHAUSTED until that window ends, without looking at the token.
//
// Time and randomness are injected: `clock` decides expiry (its steady time) and the expiry
// shown (its wall time); `new_secret` makes session ids and CSRF tokens (default: 32 bytes from
// the OS CSPRNG, base64url). Thread-safety: every method may be called concurrently; each holds
// a mutex for a few map operations and one SHA-256 of the offered token, so callers may run on
// event-loop threads.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace berth::auth {

struct SessionOptions {
  std::chrono::seconds lifetime = std::chrono::hours(8);  // from sign-in
  std::chrono::seconds idle_timeout = std::chrono::hours(1);
  int max_failures = 10;  // wrong tokens per window before sign-in is refused
  std::chrono::seconds failure_window = std::chrono::minutes(1);
  // Sessions kept at most; signing in beyond it ends the least recently used one.
  size_t max_sessions = 1024;
};

// What the holder of a session may know about it.
struct SessionGrant {
  std::string session_id;  // the cookie's value
  std::string csrf_token;
  SystemTime expires_at;            // wall time of the hard expiry (sign-in + lifetime)
  std::chrono::seconds max_age{0};  // seconds from now to `expires_at`, for the cookie
};

class SessionStore {
 public:
  // `admin_token_sha256`: hex SHA-256 of the admin token, as ManagementApi takes it.
  SessionStore(const Clock& clock, std::string admin_token_sha256, SessionOptions options = {},
               std::function<std::string()> new_secret = {});

  // Opens a session for the holder of the admin token. UNAUTHENTICATED for a wrong token
  // (counted as a failure); RESOURCE_EXHAUSTED while failures are throttled.
  absl::StatusOr<SessionGrant> SignIn(std::string_view admin_token);

  // The session with this id if it is live, with its idle time restarted; nullopt when unknown,
  // expired (it is removed) or signed out.
  std::optional<SessionGrant> Touch(std::string_view session_id);

  // Whether `csrf_token` is that of the live session `session_id` (constant-time compare).
  // Does not restart the idle time.
  bool CsrfMatches(std::string_view session_id, std::string_view csrf_token);

  // Ends the session; false when there was none.
  bool SignOut(std::string_view session_id);

  // While sign-in is throttled: how long until it is not.
  std::optional<std::chrono::seconds> ThrottledFor() const;

  size_t SessionCountForTest() const;

 private:
  struct Session {
    std::string csrf_token;
    SteadyTime hard_deadline;
    SteadyTime last_seen;
    SystemTime expires_at;
  };
  using Sessions = std::map<std::string, Session, std::less<>>;

  // Whether `it` has passed its hard or idle deadline at `now`. Caller holds mu_.
  bool Expired(const Session& session, SteadyTime now) const;
  SessionGrant GrantFor(const std::string& id, const Session& session, SteadyTime now) const;
  std::optional<std::chrono::seconds> ThrottledForLocked(SteadyTime now) const;
  void SweepLocked(SteadyTime now);

  const Clock& clock_;
  const std::string admin_token_sha256_;
  const SessionOptions options_;
  const std::function<std::string()> new_secret_;

  mutable std::mutex mu_;
  Sessions sessions_;                  // guarded by mu_
  SteadyTime failure_window_start_{};  // guarded by mu_
  int failures_in_window_ = 0;         // guarded by mu_
};

}  // namespace berth::auth
