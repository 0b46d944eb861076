#include "http/cookies.h"

#include "gtest/gtest.h"

namespace berth::http {
namespace {

TEST(CookieValueTest, FindsTheNamedCookieAmongOthersAndFields) {
  Request req{bhttp::verb::get, "/", 11};
  EXPECT_EQ(CookieValue(req, "berth_studio"), std::nullopt);
  req.insert(bhttp::field::cookie, "theme=dark;berth_studioX=no");
  req.insert(bhttp::field::cookie, " a=1 ;  berth_studio = abc-_9 ; berth_studio=second");
  EXPECT_EQ(CookieValue(req, "berth_studio"), "abc-_9");
  EXPECT_EQ(CookieValue(req, "theme"), "dark");
  EXPECT_EQ(CookieValue(req, "a"), "1");
  EXPECT_EQ(CookieValue(req, "missing"), std::nullopt);
}

TEST(CookieValueTest, QuotesAreRemovedAndEmptyValuesKept) {
  Request req{bhttp::verb::get, "/", 11};
  req.set(bhttp::field::cookie, "q=\"quoted\"; empty=; bare");
  EXPECT_EQ(CookieValue(req, "q"), "quoted");
  EXPECT_EQ(CookieValue(req, "empty"), "");
  EXPECT_EQ(CookieValue(req, "bare"), std::nullopt);
}

}  // namespace
}  // namespace berth::http
