#include "auth/session_store.h"

#include <string>

#include "auth/secrets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::auth {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr char kToken[] = "berth_admin-token";

class SessionStoreTest : public ::testing::Test {
 protected:
  // Secrets are "s1", "s2", ...: the test knows which one is an id and which a CSRF token.
  SessionStore MakeStore(SessionOptions options = {}) {
    return SessionStore(clock_, Sha256Hex(kToken), options,
                        [this] { return "s" + std::to_string(++secrets_made_); });
  }

  ManualClock clock_;
  int secrets_made_ = 0;
};

TEST_F(SessionStoreTest, SignInWithTheAdminTokenGrantsASession) {
  SessionStore store = MakeStore();
  SystemTime signed_in_at = clock_.WallNow();
  auto grant = store.SignIn(kToken);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->session_id, "s1");
  EXPECT_EQ(grant->csrf_token, "s2");
  EXPECT_EQ(grant->expires_at, signed_in_at + hours(8));
  EXPECT_EQ(grant->max_age, hours(8));
  auto touched = store.Touch("s1");
  ASSERT_TRUE(touched.has_value());
  EXPECT_EQ(touched->csrf_token, "s2");
  EXPECT_FALSE(store.Touch("s2").has_value());  // the CSRF token is not a session id
}

TEST_F(SessionStoreTest, RealSecretsAreLongAndDistinct) {
  SessionStore store(clock_, Sha256Hex(kToken));
  auto a = store.SignIn(kToken);
  auto b = store.SignIn(kToken);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->session_id.size(), 43u);  // 32 bytes, base64url unpadded
  EXPECT_EQ(a->csrf_token.size(), 43u);
  EXPECT_NE(a->session_id, b->session_id);
  EXPECT_NE(a->session_id, a->csrf_token);
}

TEST_F(SessionStoreTest, WrongTokenIsUnauthenticated) {
  SessionStore store = MakeStore();
  EXPECT_EQ(store.SignIn("berth_wrong").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store.SignIn("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(store.SessionCountForTest(), 0u);
}

TEST_F(SessionStoreTest, SessionEndsAfterAnHourIdle) {
  SessionStore store = MakeStore();
  ASSERT_TRUE(store.SignIn(kToken).ok());
  clock_.Advance(minutes(59));
  EXPECT_TRUE(store.Touch("s1").has_value());  // restarts the idle hour
  clock_.Advance(minutes(59));
  EXPECT_TRUE(store.Touch("s1").has_value());
  clock_.Advance(hours(1));
  EXPECT_FALSE(store.Touch("s1").has_value());
  EXPECT_EQ(store.SessionCountForTest(), 0u);  // removed when found expired
}

TEST_F(SessionStoreTest, SessionEndsEightHoursAfterSignInHoweverActive) {
  SessionStore store = MakeStore();
  ASSERT_TRUE(store.SignIn(kToken).ok());
  for (int i = 0; i < 15; ++i) {
    clock_.Advance(minutes(30));
    ASSERT_TRUE(store.Touch("s1").has_value()) << "after " << (i + 1) * 30 << " min";
  }
  auto late = store.Touch("s1");
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->max_age, minutes(30));  // the cookie's Max-Age counts down
  clock_.Advance(minutes(30));
  EXPECT_FALSE(store.Touch("s1").has_value());
  EXPECT_FALSE(store.CsrfMatches("s1", "s2"));
}

TEST_F(SessionStoreTest, CsrfTokenMustMatchTheSession) {
  SessionStore store = MakeStore();
  ASSERT_TRUE(store.SignIn(kToken).ok());  // s1, csrf s2
  ASSERT_TRUE(store.SignIn(kToken).ok());  // s3, csrf s4
  EXPECT_TRUE(store.CsrfMatches("s1", "s2"));
  EXPECT_TRUE(store.CsrfMatches("s3", "s4"));
  EXPECT_FALSE(store.CsrfMatches("s1", "s4"));  // another session's token
  EXPECT_FALSE(store.CsrfMatches("s1", ""));
  EXPECT_FALSE(store.CsrfMatches("nope", "s2"));
}

TEST_F(SessionStoreTest, SignOutEndsOnlyThatSession) {
  SessionStore store = MakeStore();
  ASSERT_TRUE(store.SignIn(kToken).ok());
  ASSERT_TRUE(store.SignIn(kToken).ok());
  EXPECT_TRUE(store.SignOut("s1"));
  EXPECT_FALSE(store.SignOut("s1"));
  EXPECT_FALSE(store.Touch("s1").has_value());
  EXPECT_FALSE(store.CsrfMatches("s1", "s2"));
  EXPECT_TRUE(store.Touch("s3").has_value());
}

TEST_F(SessionStoreTest, TenFailuresInAMinuteRefuseEverySignInForTheRestOfIt) {
  SessionStore store = MakeStore();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(store.SignIn("wrong").status().code(), absl::StatusCode::kUnauthenticated) << i;
    clock_.Advance(seconds(2));
  }
  // 20 s into the window: refused even with the right token.
  EXPECT_EQ(store.SignIn(kToken).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store.ThrottledFor(), seconds(40));
  clock_.Advance(seconds(39));
  EXPECT_EQ(store.SignIn(kToken).status().code(), absl::StatusCode::kResourceExhausted);
  clock_.Advance(seconds(1));
  EXPECT_FALSE(store.ThrottledFor().has_value());
  EXPECT_TRUE(store.SignIn(kToken).ok());
}

TEST_F(SessionStoreTest, FailuresSpreadOverMinutesAreNotThrottled) {
  SessionStore store = MakeStore();
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(store.SignIn("wrong").status().code(), absl::StatusCode::kUnauthenticated) << i;
    clock_.Advance(seconds(7));  // 9 per window at most
  }
  EXPECT_TRUE(store.SignIn(kToken).ok());
}

TEST_F(SessionStoreTest, BeyondMaxSessionsTheLeastRecentlyUsedEnds) {
  SessionStore store = MakeStore({.max_sessions = 2});
  ASSERT_TRUE(store.SignIn(kToken).ok());  // s1
  clock_.Advance(seconds(1));
  ASSERT_TRUE(store.SignIn(kToken).ok());  // s3
  clock_.Advance(seconds(1));
  ASSERT_TRUE(store.Touch("s1").has_value());
  ASSERT_TRUE(store.SignIn(kToken).ok());  // s5 replaces s3
  EXPECT_TRUE(store.Touch("s1").has_value());
  EXPECT_FALSE(store.Touch("s3").has_value());
  EXPECT_TRUE(store.Touch("s5").has_value());
}

}  // namespace
}  // namespace berth::auth
