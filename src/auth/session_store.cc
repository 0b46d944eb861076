#include "auth/session_store.h"

#include <algorithm>

#include "absl/status/status.h"
#include "auth/secrets.h"

namespace berth::auth {

SessionStore::SessionStore(const Clock& clock, std::string admin_token_sha256,
                           SessionOptions options, std::function<std::string()> new_secret)
    : clock_(clock),
      admin_token_sha256_(std::move(admin_token_sha256)),
      options_(options),
      new_secret_(new_secret ? std::move(new_secret) : [] { return NewSecret(32); }) {}

bool SessionStore::Expired(const Session& session, SteadyTime now) const {
  return now >= session.hard_deadline || now >= session.last_seen + options_.idle_timeout;
}

SessionGrant SessionStore::GrantFor(const std::string& id, const Session& session,
                                    SteadyTime now) const {
  return SessionGrant{
      .session_id = id,
      .csrf_token = session.csrf_token,
      .expires_at = session.expires_at,
      .max_age = std::max(std::chrono::seconds(0),
                          std::chrono::ceil<std::chrono::seconds>(session.hard_deadline - now)),
  };
}

std::optional<std::chrono::seconds> SessionStore::ThrottledForLocked(SteadyTime now) const {
  if (failures_in_window_ < options_.max_failures) return std::nullopt;
  SteadyTime window_end = failure_window_start_ + options_.failure_window;
  if (now >= window_end) return std::nullopt;
  return std::chrono::ceil<std::chrono::seconds>(window_end - now);
}

std::optional<std::chrono::seconds> SessionStore::ThrottledFor() const {
  std::lock_guard lock(mu_);
  return ThrottledForLocked(clock_.Now());
}

void SessionStore::SweepLocked(SteadyTime now) {
  std::erase_if(sessions_, [&](const auto& entry) { return Expired(entry.second, now); });
}

absl::StatusOr<SessionGrant> SessionStore::SignIn(std::string_view admin_token) {
  SteadyTime now = clock_.Now();
  std::lock_guard lock(mu_);
  if (auto wait = ThrottledForLocked(now)) {
    return absl::ResourceExhaustedError("too many failed sign-ins; try again in " +
                                        std::to_string(wait->count()) + " s");
  }
  if (admin_token.empty() || !ConstantTimeEquals(Sha256Hex(admin_token), admin_token_sha256_)) {
    if (failures_in_window_ == 0 || now >= failure_window_start_ + options_.failure_window) {
      failure_window_start_ = now;
      failures_in_window_ = 0;
    }
    ++failures_in_window_;
    return absl::UnauthenticatedError("invalid admin token");
  }
  SweepLocked(now);
  while (sessions_.size() >= options_.max_sessions && !sessions_.empty()) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.last_seen < b.second.last_seen;
    });
    sessions_.erase(oldest);
  }
  std::string id = new_secret_();
  while (sessions_.contains(id)) id = new_secret_();
  Session session{
      .csrf_token = new_secret_(),
      .hard_deadline = now + options_.lifetime,
      .last_seen = now,
      .expires_at = clock_.WallNow() + options_.lifetime,
  };
  auto [it, inserted] = sessions_.emplace(std::move(id), std::move(session));
  return GrantFor(it->first, it->second, now);
}

std::optional<SessionGrant> SessionStore::Touch(std::string_view session_id) {
  SteadyTime now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return std::nullopt;
  if (Expired(it->second, now)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_seen = now;
  return GrantFor(it->first, it->second, now);
}

bool SessionStore::CsrfMatches(std::string_view session_id, std::string_view csrf_token) {
  SteadyTime now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end() || Expired(it->second, now)) return false;
  return !csrf_token.empty() && ConstantTimeEquals(csrf_token, it->second.csrf_token);
}

bool SessionStore::SignOut(std::string_view session_id) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return false;
  sessions_.erase(it);
  return true;
}

size_t SessionStore::SessionCountForTest() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace berth::auth
