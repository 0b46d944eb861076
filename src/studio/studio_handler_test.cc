#include "studio/studio_handler.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "auth/secrets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "nlohmann/json.hpp"

namespace berth::studio {
namespace {

namespace asio = http::asio;
namespace bhttp = http::bhttp;
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kToken[] = "berth_the-admin-token";

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

class StudioHandlerTest : public ::testing::Test {
 protected:
  StudioHandlerTest() {
    WriteFile(root_ / "index.html", "<p>index</p>");
    WriteFile(root_ / "signin.html", "<p>signin</p>");
    WriteFile(root_ / "endpoints.html", "<p>endpoints</p>");
    WriteFile(root_ / "assets" / "app.js", "console.log(1);");
    WriteFile(root_ / "assets" / "app.css", "p{}");
    WriteFile(root_ / "assets" / "logo.svg", "<svg/>");
    WriteFile(root_ / "assets" / "font.woff2", "wOF2");
    WriteFile(root_ / "assets" / "data.bin", "x");
    WriteFile(root_ / "assets" / ".hidden.js", "secret");
    WriteFile(base_ / "outside.js", "OUTSIDE-CONTENT");
    fs::create_symlink(base_ / "outside.js", root_ / "assets" / "escape.js");
    fs::create_symlink(root_ / "assets" / "app.js", root_ / "assets" / "inside.js");
  }
  ~StudioHandlerTest() override {
    work_.reset();
    io_thread_.join();
    pool_.join();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  http::Response Send(http::Request req) {
    auto result = asio::co_spawn(
        io_,
        [this, &req]() -> http::Awaitable<http::Response> {
          co_return co_await handler_.Handle(req);
        },
        asio::use_future);
    return result.get();
  }
  http::Response Get(const std::string& target, const std::string& cookie = "") {
    http::Request req{bhttp::verb::get, target, 11};
    if (!cookie.empty()) req.set(bhttp::field::cookie, cookie);
    return Send(std::move(req));
  }
  // Signs in; returns the cookie header value to send back and the CSRF token.
  std::pair<std::string, std::string> SignIn() {
    http::Request req{bhttp::verb::post, "/studio/api/session", 11};
    req.body() = nlohmann::json{{"token", kToken}}.dump();
    http::Response res = Send(std::move(req));
    EXPECT_EQ(res.result_int(), 200) << res.body();
    std::string set_cookie(res[bhttp::field::set_cookie]);
    return {set_cookie.substr(0, set_cookie.find(';')),
            nlohmann::json::parse(res.body())["csrf_token"].get<std::string>()};
  }

  static fs::path NewTempDir() {
    std::string pattern = ::testing::TempDir() + "berth_studio_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    return pattern;
  }

  const fs::path base_ = NewTempDir();
  const fs::path root_ = base_ / "studio";
  ManualClock clock_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::thread io_thread_{[this] { io_.run(); }};
  asio::thread_pool pool_{1};
  StaticFiles files_{root_};
  auth::SessionStore sessions_{clock_, auth::Sha256Hex(kToken)};
  StudioHandler handler_{files_, sessions_, pool_};
};

TEST(StaticFilesPathTest, OnlyPlainRelativePathsPass) {
  EXPECT_TRUE(StaticFiles::IsPlainRelativePath("assets/app.js"));
  EXPECT_TRUE(StaticFiles::IsPlainRelativePath("assets/vendor/chart.min.js"));
  for (const char* bad :
       {"", "/etc/passwd", "assets/../../x.js", "..", "assets/./a.js", "assets//a.js",
        "assets/.hidden.js", "assets/a b.js", "assets/a%2e.js", "assets/a\\b.js"}) {
    EXPECT_FALSE(StaticFiles::IsPlainRelativePath(bad)) << bad;
  }
  EXPECT_FALSE(StaticFiles::IsPlainRelativePath(std::string("assets/a\0.js", 12)));
}

TEST(StaticFilesPathTest, ContentTypesByExtension) {
  EXPECT_EQ(StaticFiles::ContentTypeFor("a/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.svg"), "image/svg+xml");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.png"), "image/png");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.json"), "application/json");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.js.map"), "application/json");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.woff2"), "font/woff2");
  EXPECT_EQ(StaticFiles::ContentTypeFor("a.bin"), std::nullopt);
  EXPECT_EQ(StaticFiles::ContentTypeFor("dir.js/file"), std::nullopt);
}

TEST_F(StudioHandlerTest, AssetsArePublicWithContentTypeEtagAndSecurityHeaders) {
  http::Response res = Get("/studio/assets/app.js");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(res.body(), "console.log(1);");
  EXPECT_EQ(res[bhttp::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(res[bhttp::field::etag], "\"sha256-" + auth::Sha256Hex("console.log(1);") + "\"");
  EXPECT_EQ(res[bhttp::field::cache_control], "no-cache");
  EXPECT_THAT(std::string(res["Content-Security-Policy"]),
              StartsWith("default-src 'none'; script-src 'self';"));
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(res["Referrer-Policy"], "no-referrer");
  EXPECT_EQ(res["X-Frame-Options"], "DENY");
  EXPECT_EQ(Get("/studio/assets/app.css")[bhttp::field::content_type], "text/css; charset=utf-8");
  EXPECT_EQ(Get("/studio/assets/logo.svg")[bhttp::field::content_type], "image/svg+xml");
  EXPECT_EQ(Get("/studio/assets/font.woff2")[bhttp::field::content_type], "font/woff2");
  EXPECT_EQ(Get("/studio/assets/app.js?v=1").result_int(), 200);
}

TEST_F(StudioHandlerTest, MatchingIfNoneMatchIs304AndAChangedFileANewEtag) {
  std::string etag(Get("/studio/assets/app.js")[bhttp::field::etag]);
  http::Request req{bhttp::verb::get, "/studio/assets/app.js", 11};
  req.set(bhttp::field::if_none_match, "\"other\", " + etag);
  http::Response res = Send(req);
  EXPECT_EQ(res.result_int(), 304);
  EXPECT_EQ(res.body(), "");
  EXPECT_EQ(res[bhttp::field::etag], etag);
  EXPECT_EQ(res["X-Frame-Options"], "DENY");

  WriteFile(root_ / "assets" / "app.js", "console.log(22);");  // another size: read again
  res = Send(req);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "console.log(22);");
  EXPECT_NE(res[bhttp::field::etag], etag);
}

TEST_F(StudioHandlerTest, TraversalHiddenUnknownAndEscapingSymlinksAre404) {
  for (const char* target :
       {"/studio/assets/../index.html", "/studio/assets/..%2f..%2foutside.js",
        "/studio/assets//etc/passwd", "/studio/assets/.hidden.js", "/studio/assets/data.bin",
        "/studio/assets/escape.js", "/studio/assets/missing.js", "/studio/assets/",
        "/studio/nope/deeper", "/studio/api/other"}) {
    http::Response res = Get(target);
    EXPECT_EQ(res.result_int(), 404) << target << ": " << res.body();
    EXPECT_THAT(res.body(), Not(HasSubstr("OUTSIDE-CONTENT"))) << target;
  }
  EXPECT_EQ(Get("/studio/assets/inside.js").body(), "console.log(1);");  // stays inside
}

TEST_F(StudioHandlerTest, PagesNeedASessionButTheSignInPageDoesNot) {
  http::Response res = Get("/studio");
  EXPECT_EQ(res.result_int(), 301);
  EXPECT_EQ(res[bhttp::field::location], "/studio/");
  for (const char* page : {"/studio/", "/studio/endpoints", "/studio/index", "/studio/missing"}) {
    res = Get(page);
    EXPECT_EQ(res.result_int(), 302) << page;
    EXPECT_EQ(res[bhttp::field::location], "/studio/signin") << page;
    EXPECT_EQ(res["X-Frame-Options"], "DENY");
  }
  res = Get("/studio/signin");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "<p>signin</p>");
  EXPECT_EQ(res[bhttp::field::cache_control], "no-store");

  auto [cookie, csrf] = SignIn();
  res = Get("/studio/", cookie);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "<p>index</p>");
  EXPECT_EQ(res[bhttp::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(res[bhttp::field::cache_control], "no-store");
  EXPECT_EQ(Get("/studio/endpoints?name=x", "other=1; " + cookie).body(), "<p>endpoints</p>");
  EXPECT_EQ(Get("/studio/missing", cookie).result_int(), 404);
  EXPECT_EQ(Get("/studio/", "berth_studio=forged").result_int(), 302);

  clock_.Advance(std::chrono::hours(1));  // idle: the session is gone
  EXPECT_EQ(Get("/studio/", cookie).result_int(), 302);
}

TEST_F(StudioHandlerTest, WritesToFilesAreRefused) {
  http::Request req{bhttp::verb::post, "/studio/assets/app.js", 11};
  http::Response res = Send(req);
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[bhttp::field::allow], "GET, HEAD");
}

TEST_F(StudioHandlerTest, SignInSetsAStrictHttpOnlyCookie) {
  http::Request req{bhttp::verb::post, "/studio/api/session", 11};
  req.body() = nlohmann::json{{"token", kToken}}.dump();
  http::Response res = Send(req);
  ASSERT_EQ(res.result_int(), 200) << res.body();
  std::string cookie(res[bhttp::field::set_cookie]);
  EXPECT_THAT(cookie, StartsWith("berth_studio="));
  EXPECT_THAT(cookie, HasSubstr("; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800"));
  EXPECT_THAT(cookie, Not(HasSubstr("Secure")));
  EXPECT_EQ(res[bhttp::field::cache_control], "no-store");
  auto body = nlohmann::json::parse(res.body());
  EXPECT_EQ(body["csrf_token"].get<std::string>().size(), 43u);
  EXPECT_THAT(body["expires_at"].get<std::string>(),
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));
  EXPECT_THAT(res.body(), Not(HasSubstr(kToken)));

  req.set("X-Forwarded-Proto", "https");  // behind a TLS-terminating proxy
  EXPECT_THAT(std::string(Send(req)[bhttp::field::set_cookie]), HasSubstr("; Secure"));
}

TEST_F(StudioHandlerTest, WrongTokenIs401AndTooManyAre429) {
  http::Request req{bhttp::verb::post, "/studio/api/session", 11};
  req.body() = nlohmann::json{{"token", "berth_wrong"}}.dump();
  for (int i = 0; i < 10; ++i) {
    http::Response res = Send(req);
    ASSERT_EQ(res.result_int(), 401) << i;
    EXPECT_EQ(res[bhttp::field::set_cookie], "");
    EXPECT_THAT(res.body(), HasSubstr("\"Unauthorized\""));
  }
  req.body() = nlohmann::json{{"token", kToken}}.dump();
  http::Response res = Send(req);
  EXPECT_EQ(res.result_int(), 429);
  EXPECT_EQ(res[bhttp::field::retry_after], "60");
  EXPECT_EQ(res[bhttp::field::set_cookie], "");
  req.body() = "not json";
  EXPECT_EQ(Send(req).result_int(), 400);
}

TEST_F(StudioHandlerTest, SessionReadAndSignOutNeedingCsrf) {
  EXPECT_EQ(Get("/studio/api/session").result_int(), 401);
  auto [cookie, csrf] = SignIn();
  http::Response res = Get("/studio/api/session", cookie);
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(nlohmann::json::parse(res.body())["csrf_token"], csrf);

  http::Request out{bhttp::verb::delete_, "/studio/api/session", 11};
  out.set(bhttp::field::cookie, cookie);
  EXPECT_EQ(Send(out).result_int(), 403);  // no CSRF token
  out.set("X-CSRF-Token", "wrong");
  EXPECT_EQ(Send(out).result_int(), 403);
  out.set("X-CSRF-Token", csrf);
  res = Send(out);
  EXPECT_EQ(res.result_int(), 204);
  EXPECT_THAT(std::string(res[bhttp::field::set_cookie]), StartsWith("berth_studio=; HttpOnly"));
  EXPECT_THAT(std::string(res[bhttp::field::set_cookie]), HasSubstr("Max-Age=0"));
  EXPECT_EQ(Get("/studio/api/session", cookie).result_int(), 401);
  EXPECT_EQ(Send(out).result_int(), 401);
  EXPECT_EQ(sessions_.SessionCountForTest(), 0u);
}

}  // namespace
}  // namespace berth::studio
