#include "gateway/admission.h"

#include "gtest/gtest.h"

namespace berth::gateway {
namespace {

using std::chrono::milliseconds;
using Outcome = Admission::Outcome;

AdmissionLimits Limits(int per_instance, int instances, int wait_ms = 500) {
  return {per_instance, instances, milliseconds(wait_ms)};
}

TEST(AdmissionTest, OneInstanceOneSlotQueuesSecondRejectsThird) {
  ManualClock clock;
  Admission a(clock);
  auto limits = Limits(1, 1);
  EXPECT_EQ(a.Arrive(limits).outcome, Outcome::kAdmitted);
  auto second = a.Arrive(limits);
  EXPECT_EQ(second.outcome, Outcome::kQueued);
  EXPECT_EQ(a.Arrive(limits).outcome, Outcome::kRejected);
  EXPECT_EQ(a.running(), 1);
  EXPECT_EQ(a.waiting(), 1);
  auto admitted = a.Finish(limits);
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0], second.ticket);
  EXPECT_EQ(a.running(), 1);
  EXPECT_EQ(a.waiting(), 0);
}

TEST(AdmissionTest, LimitScalesWithInstancesAndConcurrency) {
  ManualClock clock;
  Admission a(clock);
  auto limits = Limits(2, 3);  // 6 running, 12 total
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.Arrive(limits).outcome, Outcome::kAdmitted);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.Arrive(limits).outcome, Outcome::kQueued);
  EXPECT_EQ(a.Arrive(limits).outcome, Outcome::kRejected);
}

TEST(AdmissionTest, NoReadyInstanceRejects) {
  ManualClock clock;
  Admission a(clock);
  EXPECT_EQ(a.Arrive(Limits(1, 0)).outcome, Outcome::kRejected);
}

TEST(AdmissionTest, WaitersExpireAfterMaxQueueWait) {
  ManualClock clock;
  Admission a(clock);
  auto limits = Limits(1, 1, 500);
  a.Arrive(limits);
  auto queued = a.Arrive(limits);
  ASSERT_EQ(queued.outcome, Outcome::kQueued);
  EXPECT_EQ(queued.deadline, clock.Now() + milliseconds(500));
  clock.Advance(milliseconds(499));
  EXPECT_TRUE(a.ExpireWaiters().empty());
  clock.Advance(milliseconds(1));
  auto expired = a.ExpireWaiters();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0], queued.ticket);
  EXPECT_EQ(a.waiting(), 0);
  // The slot freed later goes to nobody.
  EXPECT_TRUE(a.Finish(limits).empty());
  EXPECT_EQ(a.running(), 0);
}

TEST(AdmissionTest, ExpiredWaiterIsSkippedWhenSlotFrees) {
  ManualClock clock;
  Admission a(clock);
  auto limits = Limits(1, 2, 100);
  a.Arrive(limits);
  a.Arrive(limits);
  auto first = a.Arrive(limits);
  clock.Advance(milliseconds(50));
  auto second = a.Arrive(limits);
  clock.Advance(milliseconds(60));  // first expired, second has 40 ms left
  auto admitted = a.Finish(limits);
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0], second.ticket);
  EXPECT_FALSE(a.Abandon(first.ticket));
}

TEST(AdmissionTest, FifoOrder) {
  ManualClock clock;
  Admission a(clock);
  auto limits = Limits(1, 2);
  a.Arrive(limits);
  a.Arrive(limits);
  auto w1 = a.Arrive(limits);
  auto w2 = a.Arrive(limits);
  EXPECT_EQ(a.Finish(limits), std::vector<uint64_t>{w1.ticket});
  EXPECT_EQ(a.Finish(limits), std::vector<uint64_t>{w2.ticket});
}

TEST(AdmissionTest, NewArrivalDoesNotOvertakeWaiters) {
  ManualClock clock;
  Admission a(clock);
  auto small = Limits(1, 1);
  a.Arrive(small);
  a.Arrive(small);  // queued
  // More instances became ready: the waiter is admitted first by Rebalance.
  auto big = Limits(1, 3);
  EXPECT_EQ(a.Rebalance(big).size(), 1u);
  EXPECT_EQ(a.Arrive(big).outcome, Outcome::kAdmitted);
  EXPECT_EQ(a.running(), 3);
}

TEST(AdmissionTest, AbandonRemovesWaiter) {
  ManualClock clock;
  Admission a(clock);
  auto limits = Limits(1, 1);
  a.Arrive(limits);
  auto w = a.Arrive(limits);
  EXPECT_TRUE(a.Abandon(w.ticket));
  EXPECT_FALSE(a.Abandon(w.ticket));
  EXPECT_EQ(a.Arrive(limits).outcome, Outcome::kQueued);
}

}  // namespace
}  // namespace berth::gateway
