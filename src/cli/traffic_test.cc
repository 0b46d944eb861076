#include "cli/traffic.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(TrafficTest, ParsesSpaceSeparatedPairs) {
  absl::StatusOr<json> rule = ParseTrafficRule({"blue=90 green=10"}, "--traffic");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(*rule, json({{"blue", 90}, {"green", 10}}));
}

TEST(TrafficTest, AcceptsSeveralValuesAndCommas) {
  absl::StatusOr<json> rule = ParseTrafficRule({"blue=0,", "green=100"}, "--traffic");
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(*rule, json({{"blue", 0}, {"green", 100}}));
}

TEST(TrafficTest, RejectsMissingEquals) {
  absl::StatusOr<json> rule = ParseTrafficRule({"blue 90"}, "--traffic");
  ASSERT_FALSE(rule.ok());
  EXPECT_THAT(rule.status().message(), HasSubstr("--traffic"));
  EXPECT_THAT(rule.status().message(), HasSubstr("\"blue\""));
}

TEST(TrafficTest, RejectsBadPercents) {
  for (const char* text : {"blue=", "blue=x", "blue=101", "blue=-1", "blue=5.5", "=10"}) {
    EXPECT_FALSE(ParseTrafficRule({text}, "--traffic").ok()) << text;
  }
}

TEST(TrafficTest, RejectsDuplicates) {
  absl::StatusOr<json> rule = ParseTrafficRule({"blue=50 blue=50"}, "--traffic");
  ASSERT_FALSE(rule.ok());
  EXPECT_THAT(rule.status().message(), HasSubstr("more than once"));
}

TEST(TrafficTest, RejectsEmpty) { EXPECT_FALSE(ParseTrafficRule({"  "}, "--traffic").ok()); }

TEST(TrafficTest, MirrorZeroClears) {
  absl::StatusOr<json> rule = ParseMirrorTrafficRule({"green=0"});
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(*rule, json::object());
  rule = ParseMirrorTrafficRule({"green=20"});
  ASSERT_TRUE(rule.ok()) << rule.status();
  EXPECT_EQ(*rule, json({{"green", 20}}));
}

TEST(TrafficTest, FormatsInNameOrder) {
  EXPECT_EQ(FormatTrafficRule(json({{"green", 10}, {"blue", 90}})), "blue=90 green=10");
  EXPECT_EQ(FormatTrafficRule(json::object()), "");
}

}  // namespace
}  // namespace berth::cli
