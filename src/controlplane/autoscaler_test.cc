#include "controlplane/autoscaler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::controlplane {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

AutoscalePolicy Policy(int min, int max, int max_concurrent = 1, int target = 70,
                       seconds delay = seconds(20)) {
  AutoscalePolicy policy;
  policy.min_instances = min;
  policy.max_instances = max;
  policy.target_utilization_percentage = target;
  policy.polling_interval = seconds(1);
  policy.scale_down_delay = delay;
  policy.max_concurrent_per_instance = max_concurrent;
  return policy;
}

LoadSample Load(int running, int waiting = 0, uint64_t arrivals = 0) {
  return LoadSample{running, waiting, arrivals};
}

TEST(AutoscalePolicyTest, FromScaleSettings) {
  core::ScaleSettings settings;
  settings.type = core::ScaleType::kTargetUtilization;
  settings.min_instances = 0;
  settings.max_instances = 6;
  settings.target_utilization_percentage = 50;
  settings.polling_interval_s = 2;
  AutoscalePolicy policy = AutoscalePolicy::From(settings, 4);
  EXPECT_EQ(policy.min_instances, 0);
  EXPECT_EQ(policy.max_instances, 6);
  EXPECT_EQ(policy.target_utilization_percentage, 50);
  EXPECT_EQ(policy.polling_interval, seconds(2));
  EXPECT_EQ(policy.scale_down_delay, seconds(40));  // 20 x polling_interval
  EXPECT_EQ(policy.max_concurrent_per_instance, 4);
  settings.scale_down_delay_s = 5;
  EXPECT_EQ(AutoscalePolicy::From(settings, 4).scale_down_delay, seconds(5));
}

TEST(AutoscalerTest, ScaleUpIsImmediateWithItsReason) {
  Autoscaler scaler(Policy(1, 10), 3, kT0);
  ScaleDecision decision = scaler.Observe(Load(5, 2), kT0 + seconds(1));
  // ceil(7 / 0.7) = 10.
  EXPECT_TRUE(decision.changed);
  EXPECT_EQ(decision.desired, 10);
  EXPECT_EQ(scaler.desired(), 10);
  EXPECT_EQ(decision.reason,
            "utilization 233% (in flight 5 + queued 2 over 3 instances x 1) above target 70%: "
            "3 -> 10 instances");
}

TEST(AutoscalerTest, RecommendationUsesConcurrencyAndTarget) {
  // 4 per instance at 50%: 2 requests per instance. 9 in flight -> 5 instances.
  Autoscaler scaler(Policy(1, 20, 4, 50), 1, kT0);
  EXPECT_EQ(scaler.Observe(Load(9), kT0 + seconds(1)).desired, 5);
  // At exactly the target no more instances are needed.
  Autoscaler exact(Policy(1, 20, 4, 50), 5, kT0);
  EXPECT_FALSE(exact.Observe(Load(10), kT0 + seconds(1)).changed);
  EXPECT_EQ(exact.Observe(Load(11), kT0 + seconds(2)).desired, 6);
}

TEST(AutoscalerTest, NoChangeAtSteadyLoad) {
  Autoscaler scaler(Policy(1, 10), 2, kT0);
  for (int s = 1; s <= 60; ++s) {
    ScaleDecision decision = scaler.Observe(Load(1), kT0 + seconds(s));  // needs 2
    EXPECT_FALSE(decision.changed) << s;
    EXPECT_THAT(decision.reason, IsEmpty());
  }
  EXPECT_EQ(scaler.desired(), 2);
}

TEST(AutoscalerTest, ScaleDownWaitsForTheWholeWindow) {
  Autoscaler scaler(Policy(1, 10), 1, kT0);
  ASSERT_EQ(scaler.Observe(Load(3), kT0 + seconds(1)).desired, 5);  // ceil(3 / 0.7)
  // Load drops at once; nothing changes inside the window.
  for (int s = 2; s < 21; ++s) {
    EXPECT_FALSE(scaler.Observe(Load(0, 0, 1), kT0 + seconds(s)).changed) << s;
  }
  EXPECT_EQ(scaler.desired(), 5);
  // 20 s after the scale-up the window is full, but it still holds the 5 of second 1.
  EXPECT_FALSE(scaler.Observe(Load(0, 0, 1), kT0 + seconds(21)).changed);
  ScaleDecision decision = scaler.Observe(Load(0, 0, 1), kT0 + seconds(22));
  EXPECT_TRUE(decision.changed);
  EXPECT_EQ(decision.desired, 1);
  EXPECT_EQ(decision.reason, "load below target for 20 s: 5 -> 1 instance");
}

TEST(AutoscalerTest, ScaleDownGoesToTheHighestRecentRecommendation) {
  Autoscaler scaler(Policy(1, 10), 1, kT0);
  ASSERT_EQ(scaler.Observe(Load(6), kT0 + seconds(1)).desired, 9);
  scaler.Observe(Load(2), kT0 + seconds(15));  // needs 3
  for (int s = 16; s <= 21; ++s) scaler.Observe(Load(0, 0, 1), kT0 + seconds(s));
  // The 9 of second 1 left the window at second 22; the 3 of second 15 is still in it.
  ScaleDecision decision = scaler.Observe(Load(0, 0, 1), kT0 + seconds(22));
  EXPECT_EQ(decision.desired, 3);
  EXPECT_EQ(decision.reason, "load below target for 20 s: 9 -> 3 instances");
  for (int s = 23; s <= 35; ++s) {
    EXPECT_FALSE(scaler.Observe(Load(0, 0, 1), kT0 + seconds(s)).changed) << s;
  }
  EXPECT_EQ(scaler.Observe(Load(0, 0, 1), kT0 + seconds(36)).desired, 1);
}

TEST(AutoscalerTest, FlappingLoadNeverScalesDown) {
  Autoscaler scaler(Policy(1, 10), 1, kT0);
  ASSERT_EQ(scaler.Observe(Load(4), kT0 + seconds(1)).desired, 6);
  for (int s = 2; s <= 200; ++s) {
    const bool high = s % 5 == 0;
    ScaleDecision decision = scaler.Observe(high ? Load(4) : Load(0), kT0 + seconds(s));
    EXPECT_FALSE(decision.changed) << s;
  }
  EXPECT_EQ(scaler.desired(), 6);
}

TEST(AutoscalerTest, BoundsClampRecommendations) {
  Autoscaler scaler(Policy(2, 4), 2, kT0);
  ScaleDecision up = scaler.Observe(Load(100), kT0 + seconds(1));
  EXPECT_EQ(up.desired, 4);
  EXPECT_THAT(up.reason, HasSubstr("2 -> 4 instances"));
  for (int s = 2; s <= 60; ++s) scaler.Observe(Load(0), kT0 + seconds(s));
  EXPECT_EQ(scaler.desired(), 2);  // min_instances, not zero
  // The initial count is clamped too.
  EXPECT_EQ(Autoscaler(Policy(2, 4), 7, kT0).desired(), 4);
  EXPECT_EQ(Autoscaler(Policy(2, 4), 0, kT0).desired(), 2);
}

TEST(AutoscalerTest, ScalesToZeroWhenIdleAndWakes) {
  Autoscaler scaler(Policy(0, 3), 1, kT0);
  for (int s = 1; s < 20; ++s) {
    EXPECT_FALSE(scaler.Observe(Load(0), kT0 + seconds(s)).changed) << s;
  }
  ScaleDecision idle = scaler.Observe(Load(0), kT0 + seconds(20));
  EXPECT_TRUE(idle.changed);
  EXPECT_EQ(idle.desired, 0);
  EXPECT_EQ(idle.reason, "idle for 20 s: scaled to zero (1 -> 0 instances)");

  // Staying at zero is no decision.
  EXPECT_FALSE(scaler.Observe(Load(0), kT0 + seconds(21)).changed);

  ScaleDecision wake = scaler.Wake(kT0 + seconds(30));
  EXPECT_TRUE(wake.changed);
  EXPECT_EQ(wake.desired, 1);
  EXPECT_EQ(wake.reason, "a request arrived while scaled to zero: 0 -> 1 instance");
  // A second waiting request changes nothing.
  EXPECT_FALSE(scaler.Wake(kT0 + seconds(30)).changed);
  // After waking, a full delay passes before it may scale to zero again.
  for (int s = 31; s < 50; ++s) {
    EXPECT_FALSE(scaler.Observe(Load(0), kT0 + seconds(s)).changed) << s;
  }
  EXPECT_EQ(scaler.Observe(Load(0), kT0 + seconds(51)).desired, 0);
}

TEST(AutoscalerTest, ArrivalsKeepOneInstance) {
  Autoscaler scaler(Policy(0, 3), 1, kT0);
  // Requests come and go between samples: none is in flight when sampled, yet not idle.
  for (int s = 1; s <= 100; ++s) {
    EXPECT_FALSE(scaler.Observe(Load(0, 0, 2), kT0 + seconds(s)).changed) << s;
  }
  EXPECT_EQ(scaler.desired(), 1);
  // One arrival inside the delay postpones scaling to zero.
  for (int s = 101; s <= 115; ++s) scaler.Observe(Load(0), kT0 + seconds(s));
  scaler.Observe(Load(0, 0, 1), kT0 + seconds(116));
  for (int s = 117; s <= 135; ++s) {
    EXPECT_FALSE(scaler.Observe(Load(0), kT0 + seconds(s)).changed) << s;
  }
  EXPECT_EQ(scaler.Observe(Load(0), kT0 + seconds(137)).desired, 0);
}

TEST(AutoscalerTest, LoadWhileScaledToZeroScalesUpAtOnce) {
  Autoscaler scaler(Policy(0, 5), 0, kT0);
  ScaleDecision queued = scaler.Observe(Load(0, 2), kT0 + seconds(1));
  EXPECT_EQ(queued.desired, 3);  // ceil(2 / 0.7)
  EXPECT_EQ(queued.reason,
            "load 2 (in flight 0 + queued 2) while scaled to zero: 0 -> 3 instances");

  Autoscaler arrived(Policy(0, 5), 0, kT0);
  ScaleDecision decision = arrived.Observe(Load(0, 0, 1), kT0 + seconds(1));
  EXPECT_EQ(decision.desired, 1);
  EXPECT_EQ(decision.reason, "1 request arrived while scaled to zero: 0 -> 1 instance");
}

TEST(AutoscalerTest, RaisingMinScalesUpAtOnce) {
  Autoscaler scaler(Policy(0, 5), 1, kT0);
  ScaleDecision decision = scaler.SetPolicy(Policy(3, 5), kT0 + seconds(1));
  EXPECT_TRUE(decision.changed);
  EXPECT_EQ(decision.desired, 3);
  EXPECT_EQ(decision.reason, "min_instances is 3: 1 -> 3 instances");
  EXPECT_EQ(scaler.desired(), 3);
  // Idle afterwards: never below the new minimum.
  for (int s = 2; s <= 60; ++s) EXPECT_FALSE(scaler.Observe(Load(0), kT0 + seconds(s)).changed);
}

TEST(AutoscalerTest, LoweringMaxScalesDownAtOnce) {
  Autoscaler scaler(Policy(1, 10), 1, kT0);
  ASSERT_EQ(scaler.Observe(Load(6), kT0 + seconds(1)).desired, 9);
  ScaleDecision decision = scaler.SetPolicy(Policy(1, 4), kT0 + seconds(2));
  EXPECT_TRUE(decision.changed);
  EXPECT_EQ(decision.desired, 4);
  EXPECT_EQ(decision.reason, "max_instances is 4: 9 -> 4 instances");
  // The load of before still needs the new maximum, not more.
  EXPECT_FALSE(scaler.Observe(Load(6), kT0 + seconds(3)).changed);
  EXPECT_EQ(scaler.desired(), 4);
  // A policy change inside the bounds is no decision.
  EXPECT_FALSE(scaler.SetPolicy(Policy(1, 8, 2), kT0 + seconds(4)).changed);
}

TEST(AutoscalerTest, DueAfterEachPollingInterval) {
  Autoscaler scaler(Policy(1, 3), 1, kT0);
  EXPECT_FALSE(scaler.Due(kT0));
  EXPECT_FALSE(scaler.Due(kT0 + milliseconds(999)));
  EXPECT_TRUE(scaler.Due(kT0 + seconds(1)));
  scaler.Observe(Load(0), kT0 + milliseconds(1500));
  EXPECT_FALSE(scaler.Due(kT0 + milliseconds(2000)));
  EXPECT_TRUE(scaler.Due(kT0 + milliseconds(2500)));
}

TEST(AutoscalerTest, FractionalDelayInReason) {
  Autoscaler scaler(Policy(0, 2, 1, 70, seconds(0)), 1, kT0);
  AutoscalePolicy policy = Policy(0, 2);
  policy.scale_down_delay = milliseconds(1500);
  scaler.SetPolicy(policy, kT0);
  scaler.Observe(Load(0), kT0 + milliseconds(1000));
  ScaleDecision decision = scaler.Observe(Load(0), kT0 + milliseconds(2000));
  EXPECT_EQ(decision.reason, "idle for 1.5 s: scaled to zero (1 -> 0 instances)");
}

}  // namespace
}  // namespace berth::controlplane
