#include "gateway/traffic_splitter.h"

#include "common/errors.h"
#include "common/random.h"
#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

TEST(TrafficSplitterTest, RejectsSumOtherThanZeroOrHundred) {
  auto s = TrafficSplitter::Create({{"blue", 80}, {"green", 10}}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ErrorTarget(s.status()), "traffic");
  EXPECT_NE(s.status().message().find("90"), std::string::npos);
}

TEST(TrafficSplitterTest, AcceptsZeroTotalAndPicksNothing) {
  auto s = TrafficSplitter::Create({{"blue", 0}}, {});
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->Pick(42).has_value());
}

TEST(TrafficSplitterTest, RejectsNegativeAndOverHundred) {
  EXPECT_FALSE(TrafficSplitter::Create({{"blue", -1}, {"green", 101}}, {}).ok());
  EXPECT_FALSE(TrafficSplitter::Create({{"blue", 101}}, {}).ok());
}

TEST(TrafficSplitterTest, MirrorRules) {
  auto over = TrafficSplitter::Create({{"blue", 100}}, {{"green", 60}});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(ErrorTarget(over.status()), "mirror_traffic.green");
  auto live = TrafficSplitter::Create({{"blue", 50}, {"green", 50}}, {{"green", 10}});
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(ErrorTarget(live.status()), "mirror_traffic.green");
  EXPECT_FALSE(TrafficSplitter::Create({{"blue", 100}}, {{"green", 10}, {"red", 10}}).ok());
  EXPECT_TRUE(TrafficSplitter::Create({{"blue", 100}}, {{"green", 50}}).ok());
}

TEST(TrafficSplitterTest, KeepsNamesAsGiven) {
  auto s = TrafficSplitter::Create({{"Green", 100}}, {{"Shadow", 50}});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->Pick(7), "Green");
  EXPECT_EQ(s->Largest(), "Green");
  EXPECT_EQ(s->Mirror(0), "Shadow");
  // The same deployment in another case still counts as live.
  auto live = TrafficSplitter::Create({{"Green", 100}}, {{"green", 10}});
  ASSERT_FALSE(live.ok());
  EXPECT_EQ(ErrorTarget(live.status()), "mirror_traffic.green");
}

TEST(TrafficSplitterTest, PickFollowsCumulativeWeights) {
  auto s = TrafficSplitter::Create({{"blue", 90}, {"green", 10}}, {});
  ASSERT_TRUE(s.ok());
  // Deployments are ordered by name: blue owns [0, 90), green [90, 100).
  EXPECT_EQ(*s->Pick(0), "blue");
  EXPECT_EQ(*s->Pick(89), "blue");
  EXPECT_EQ(*s->Pick(90), "green");
  EXPECT_EQ(*s->Pick(99), "green");
  EXPECT_EQ(*s->Pick(100), "blue");
}

TEST(TrafficSplitterTest, MirrorDecisionUsesPercent) {
  auto s = TrafficSplitter::Create({{"blue", 100}}, {{"green", 20}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->Mirror(0), "green");
  EXPECT_EQ(*s->Mirror(19), "green");
  EXPECT_FALSE(s->Mirror(20).has_value());
  EXPECT_FALSE(s->Mirror(99).has_value());
}

TEST(TrafficSplitterTest, DistributionWithSeededRandomIsWithinTolerance) {
  auto s = TrafficSplitter::Create({{"a", 70}, {"b", 20}, {"c", 10}}, {{"d", 20}});
  ASSERT_TRUE(s.ok());
  DefaultRandom random(12345);
  std::map<std::string, int> counts;
  int mirrored = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    counts[*s->Pick(random.Next())]++;
    if (s->Mirror(random.Next())) ++mirrored;
  }
  EXPECT_NEAR(counts["a"] / double(n), 0.70, 0.01);
  EXPECT_NEAR(counts["b"] / double(n), 0.20, 0.01);
  EXPECT_NEAR(counts["c"] / double(n), 0.10, 0.01);
  EXPECT_NEAR(mirrored / double(n), 0.20, 0.01);
}

}  // namespace
}  // namespace berth::gateway
