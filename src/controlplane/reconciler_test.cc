#include "controlplane/reconciler.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace berth::controlplane {
namespace {

using core::ProvisioningState;
using Kind = Action::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

const SteadyTime kT0 = SteadyTime{} + std::chrono::hours(1);

ObservedInstance Inst(int64_t id, InstancePhase phase, const std::string& tmpl = "v1",
                      bool ever_ready = false) {
  ObservedInstance i;
  i.id = id;
  i.phase = phase;
  i.template_hash = tmpl;
  i.ever_ready = ever_ready || phase == InstancePhase::kReady;
  i.started_at = kT0;
  return i;
}

DesiredDeployment Want(int count, ProvisioningState state, const std::string& tmpl = "v1") {
  DesiredDeployment d;
  d.template_hash = tmpl;
  d.instance_count = count;
  d.state = state;
  d.startup_timeout = seconds(30);
  return d;
}

int Count(const std::vector<Action>& actions, Kind kind) {
  return static_cast<int>(std::count_if(actions.begin(), actions.end(),
                                        [&](const Action& a) { return a.kind == kind; }));
}

TEST(ReconcileTest, CreatingStartsInstanceCount) {
  auto actions = Reconcile(Want(3, ProvisioningState::kCreating), {}, kT0);
  EXPECT_EQ(Count(actions, Kind::kStart), 3);
  EXPECT_EQ(Count(actions, Kind::kMarkSucceeded), 0);
}

TEST(ReconcileTest, SucceedsWhenAllReady) {
  auto actions = Reconcile(Want(2, ProvisioningState::kCreating),
                           {Inst(1, InstancePhase::kReady), Inst(2, InstancePhase::kReady)}, kT0);
  EXPECT_EQ(actions, std::vector<Action>{{Kind::kMarkSucceeded}});
}

TEST(ReconcileTest, NotSucceededWhileOneStarting) {
  auto actions = Reconcile(Want(2, ProvisioningState::kCreating),
                           {Inst(1, InstancePhase::kReady), Inst(2, InstancePhase::kStarting)},
                           kT0 + seconds(1));
  EXPECT_TRUE(actions.empty());
}

TEST(ReconcileTest, ExitBeforeReadyFailsRollout) {
  auto exited = Inst(1, InstancePhase::kExited);
  exited.exit_code = 3;
  auto actions = Reconcile(Want(2, ProvisioningState::kCreating),
                           {exited, Inst(2, InstancePhase::kStarting)}, kT0);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0].kind, Kind::kMarkFailed);
  EXPECT_EQ(actions[0].instance_id, 1);
  EXPECT_NE(actions[0].reason.find("exited with code 3"), std::string::npos);
  EXPECT_EQ(Count(actions, Kind::kStop), 1);
  EXPECT_EQ(Count(actions, Kind::kForget), 0);  // kept so its logs stay reachable
}

TEST(ReconcileTest, StartupTimeoutFailsRollout) {
  auto desired = Want(1, ProvisioningState::kCreating);
  EXPECT_TRUE(Reconcile(desired, {Inst(1, InstancePhase::kStarting)}, kT0 + seconds(30)).empty());
  auto actions = Reconcile(desired, {Inst(1, InstancePhase::kStarting)}, kT0 + seconds(31));
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0].kind, Kind::kMarkFailed);
  EXPECT_NE(actions[0].reason.find("not ready after 30 s"), std::string::npos);
}

TEST(ReconcileTest, CrashAfterSucceededRestartsWithBackoff) {
  auto crashed = Inst(1, InstancePhase::kExited, "v1", /*ever_ready=*/true);
  crashed.exited_at = kT0;
  crashed.restarts = 2;  // backoff 2 s
  auto desired = Want(1, ProvisioningState::kSucceeded);
  EXPECT_EQ(Count(Reconcile(desired, {crashed}, kT0 + milliseconds(1999)), Kind::kRestart), 0);
  auto actions = Reconcile(desired, {crashed}, kT0 + seconds(2));
  EXPECT_EQ(actions, (std::vector<Action>{{Kind::kRestart, 1}}));
}

TEST(ReconcileTest, BackoffDoublesAndCaps) {
  EXPECT_EQ(RestartBackoff(0), milliseconds(500));
  EXPECT_EQ(RestartBackoff(1), milliseconds(1000));
  EXPECT_EQ(RestartBackoff(3), milliseconds(4000));
  EXPECT_EQ(RestartBackoff(20), milliseconds(30000));
}

TEST(ReconcileTest, RollingUpdateKeepsOldUntilNewReady) {
  auto desired = Want(1, ProvisioningState::kUpdating, "v2");
  auto old_ready = Inst(1, InstancePhase::kReady, "v1");
  auto first = Reconcile(desired, {old_ready}, kT0);
  EXPECT_EQ(first, std::vector<Action>{{Kind::kStart}});
  auto waiting = Reconcile(desired, {old_ready, Inst(2, InstancePhase::kStarting, "v2")}, kT0);
  EXPECT_TRUE(waiting.empty());
  auto done = Reconcile(desired, {old_ready, Inst(2, InstancePhase::kReady, "v2")}, kT0);
  EXPECT_EQ(done, (std::vector<Action>{{Kind::kStop, 1}, {Kind::kMarkSucceeded}}));
}

TEST(ReconcileTest, FailedUpdateKeepsOldServingAndStopsNew) {
  auto desired = Want(1, ProvisioningState::kFailed, "v2");
  auto actions = Reconcile(
      desired, {Inst(1, InstancePhase::kReady, "v1"), Inst(2, InstancePhase::kStarting, "v2")},
      kT0);
  EXPECT_EQ(actions, (std::vector<Action>{{Kind::kStop, 2}}));
  auto exited = Inst(2, InstancePhase::kExited, "v2");
  EXPECT_TRUE(Reconcile(desired, {Inst(1, InstancePhase::kReady, "v1"), exited}, kT0).empty());
}

TEST(ReconcileTest, ScaleUpAndDown) {
  auto up = Reconcile(Want(3, ProvisioningState::kUpdating), {Inst(1, InstancePhase::kReady)}, kT0);
  EXPECT_EQ(Count(up, Kind::kStart), 2);
  auto down = Reconcile(Want(1, ProvisioningState::kUpdating),
                        {Inst(1, InstancePhase::kReady), Inst(2, InstancePhase::kReady),
                         Inst(3, InstancePhase::kStarting)},
                        kT0);
  // The starting one goes first, then the newest ready one.
  EXPECT_EQ(down,
            (std::vector<Action>{{Kind::kStop, 3}, {Kind::kStop, 2}, {Kind::kMarkSucceeded}}));
}

TEST(ReconcileTest, DeletingStopsAllThenRemoves) {
  auto desired = Want(2, ProvisioningState::kDeleting);
  auto stopping = Inst(2, InstancePhase::kStopping);
  auto actions = Reconcile(desired, {Inst(1, InstancePhase::kReady), stopping}, kT0);
  EXPECT_EQ(actions, (std::vector<Action>{{Kind::kStop, 1}}));
  auto gone = Reconcile(desired, {Inst(1, InstancePhase::kExited)}, kT0);
  EXPECT_EQ(gone, (std::vector<Action>{{Kind::kForget, 1}, {Kind::kRemove}}));
}

TEST(ReconcileTest, OldTemplateExitIsForgottenNotRestarted) {
  auto desired = Want(1, ProvisioningState::kSucceeded, "v2");
  auto old_exit = Inst(1, InstancePhase::kExited, "v1", true);
  auto actions = Reconcile(desired, {old_exit, Inst(2, InstancePhase::kReady, "v2")}, kT0);
  EXPECT_EQ(actions, (std::vector<Action>{{Kind::kForget, 1}}));
}

DesiredDeployment Rollout(int count, int surge, const std::string& tmpl = "v2") {
  DesiredDeployment d = Want(count, ProvisioningState::kUpdating, tmpl);
  d.max_surge = surge;
  return d;
}

TEST(ReconcileTest, DefaultMaxSurgeIsTwentyPercent) {
  EXPECT_EQ(DefaultMaxSurge(0), 1);
  EXPECT_EQ(DefaultMaxSurge(1), 1);
  EXPECT_EQ(DefaultMaxSurge(3), 1);
  EXPECT_EQ(DefaultMaxSurge(5), 1);
  EXPECT_EQ(DefaultMaxSurge(6), 2);
  EXPECT_EQ(DefaultMaxSurge(10), 2);
  EXPECT_EQ(DefaultMaxSurge(11), 3);
  EXPECT_EQ(DefaultMaxSurge(50), 10);
}

TEST(ReconcileTest, RollingUpdateReplacesOneAtATime) {
  const auto desired = Rollout(3, 1);
  std::vector<ObservedInstance> observed = {Inst(1, InstancePhase::kReady, "v1"),
                                            Inst(2, InstancePhase::kReady, "v1"),
                                            Inst(3, InstancePhase::kReady, "v1")};
  // One new instance within the surge of 1: 4 live.
  EXPECT_EQ(Reconcile(desired, observed, kT0), std::vector<Action>{{Kind::kStart}});
  observed.push_back(Inst(4, InstancePhase::kStarting, "v2"));
  EXPECT_TRUE(Reconcile(desired, observed, kT0).empty());

  // It is ready: one old one stops, the next new one starts.
  observed[3].phase = InstancePhase::kReady;
  observed[3].ever_ready = true;
  EXPECT_EQ(Reconcile(desired, observed, kT0),
            (std::vector<Action>{{Kind::kStop, 3}, {Kind::kStart}}));
  observed[2].phase = InstancePhase::kStopping;
  observed.push_back(Inst(5, InstancePhase::kStarting, "v2"));
  EXPECT_TRUE(Reconcile(desired, observed, kT0).empty());

  observed[4].phase = InstancePhase::kReady;
  observed[4].ever_ready = true;
  observed.erase(observed.begin() + 2);  // instance 3 is gone
  EXPECT_EQ(Reconcile(desired, observed, kT0),
            (std::vector<Action>{{Kind::kStop, 2}, {Kind::kStart}}));
  observed[1].phase = InstancePhase::kStopping;
  observed.push_back(Inst(6, InstancePhase::kReady, "v2"));
  // Three new ones ready: the last old one stops and the update is done.
  EXPECT_EQ(Reconcile(desired, observed, kT0),
            (std::vector<Action>{{Kind::kStop, 1}, {Kind::kMarkSucceeded}}));
}

TEST(ReconcileTest, RollingUpdateStopsUnservingOldInstancesFirst) {
  const auto desired = Rollout(3, 1);
  std::vector<ObservedInstance> observed = {
      Inst(1, InstancePhase::kReady, "v1"), Inst(2, InstancePhase::kUnready, "v1", true),
      Inst(3, InstancePhase::kReady, "v1"), Inst(4, InstancePhase::kReady, "v2")};
  EXPECT_EQ(Reconcile(desired, observed, kT0),
            (std::vector<Action>{{Kind::kStop, 2}, {Kind::kStart}}));
}

// Plays a rollout to its end: starting instances become ready one per step, stopping ones go.
// At every step at most count + surge instances are live and at least count are ready.
void PlayRollout(int count, int surge) {
  SCOPED_TRACE("count " + std::to_string(count) + ", surge " + std::to_string(surge));
  const auto desired = Rollout(count, surge);
  std::vector<ObservedInstance> observed;
  int64_t next_id = 1;
  for (int k = 0; k < count; ++k) observed.push_back(Inst(next_id++, InstancePhase::kReady, "v1"));
  bool succeeded = false;
  for (int step = 0; step < 10 * count && !succeeded; ++step) {
    for (const Action& action : Reconcile(desired, observed, kT0)) {
      ASSERT_NE(action.kind, Kind::kMarkFailed);
      if (action.kind == Kind::kStart) {
        observed.push_back(Inst(next_id++, InstancePhase::kStarting, "v2"));
      } else if (action.kind == Kind::kStop) {
        for (auto& i : observed) {
          if (i.id == action.instance_id) i.phase = InstancePhase::kStopping;
        }
      } else if (action.kind == Kind::kMarkSucceeded) {
        succeeded = true;
      }
    }
    int live = 0;
    int ready = 0;
    for (const auto& i : observed) {
      if (i.phase != InstancePhase::kStopping && i.phase != InstancePhase::kExited) ++live;
      if (i.phase == InstancePhase::kReady) ++ready;
    }
    EXPECT_LE(live, count + std::max(1, surge)) << "step " << step;
    EXPECT_GE(ready, count) << "step " << step;
    // Next step: stopped instances are gone, the oldest starting one is ready.
    std::erase_if(observed, [](const auto& i) { return i.phase == InstancePhase::kStopping; });
    for (auto& i : observed) {
      if (i.phase == InstancePhase::kStarting) {
        i.phase = InstancePhase::kReady;
        i.ever_ready = true;
        break;
      }
    }
  }
  EXPECT_TRUE(succeeded);
  EXPECT_EQ(static_cast<int>(observed.size()), count);
  for (const auto& i : observed) EXPECT_EQ(i.template_hash, "v2");
}

TEST(ReconcileTest, RollingUpdateStaysWithinSurgeAndCapacity) {
  PlayRollout(1, 1);
  PlayRollout(3, 1);
  PlayRollout(5, DefaultMaxSurge(5));
  PlayRollout(10, DefaultMaxSurge(10));
  PlayRollout(4, 0);  // a surge below 1 counts as 1
}

TEST(ReconcileTest, FailedRolloutMidWayKeepsTheRemainingOldOnes) {
  auto crashed = Inst(5, InstancePhase::kExited, "v2");
  crashed.exit_code = 1;
  std::vector<ObservedInstance> observed = {
      Inst(1, InstancePhase::kReady, "v1"), Inst(2, InstancePhase::kReady, "v1"),
      Inst(3, InstancePhase::kStopping, "v1"), Inst(4, InstancePhase::kReady, "v2"), crashed};
  auto actions = Reconcile(Rollout(3, 1), observed, kT0);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0].kind, Kind::kMarkFailed);
  EXPECT_EQ(actions[0].instance_id, 5);
  EXPECT_NE(actions[0].reason.find("exited with code 1 before it was ready"), std::string::npos);
  EXPECT_EQ(std::vector<Action>(actions.begin() + 1, actions.end()),
            (std::vector<Action>{{Kind::kStop, 4}}));

  // Once Failed, the old ones keep serving; nothing new starts.
  auto failed = Want(3, ProvisioningState::kFailed, "v2");
  observed[3].phase = InstancePhase::kStopping;
  EXPECT_TRUE(Reconcile(failed, observed, kT0).empty());
}

TEST(ReconcileTest, ScaleOnlyNeverReplaces) {
  auto desired = Want(5, ProvisioningState::kUpdating);
  desired.max_surge = 1;
  auto actions =
      Reconcile(desired, {Inst(1, InstancePhase::kReady), Inst(2, InstancePhase::kReady)}, kT0);
  EXPECT_EQ(actions, (std::vector<Action>{{Kind::kStart}, {Kind::kStart}, {Kind::kStart}}));
}

TEST(ReconcileTest, ScaleToZeroStopsEverythingAndFailsNothing) {
  auto never_ready = Inst(3, InstancePhase::kExited);
  never_ready.exit_code = 1;
  std::vector<ObservedInstance> observed = {Inst(1, InstancePhase::kReady),
                                            Inst(2, InstancePhase::kStarting), never_ready,
                                            Inst(4, InstancePhase::kReady, "v0")};
  auto steady = Reconcile(Want(0, ProvisioningState::kSucceeded), observed, kT0 + seconds(60));
  EXPECT_EQ(steady, (std::vector<Action>{
                        {Kind::kForget, 3}, {Kind::kStop, 2}, {Kind::kStop, 1}, {Kind::kStop, 4}}));
  auto updating = Reconcile(Want(0, ProvisioningState::kUpdating), observed, kT0 + seconds(60));
  EXPECT_EQ(Count(updating, Kind::kMarkFailed), 0);
  EXPECT_EQ(Count(updating, Kind::kStop), 3);
  EXPECT_EQ(Count(updating, Kind::kMarkSucceeded), 1);

  // At zero, nothing more to do.
  EXPECT_TRUE(Reconcile(Want(0, ProvisioningState::kSucceeded), {}, kT0).empty());
  // Waking from zero starts one.
  EXPECT_EQ(Reconcile(Want(1, ProvisioningState::kSucceeded), {}, kT0),
            std::vector<Action>{{Kind::kStart}});
}

TEST(ReconcileTest, SteadyStateDoesNothing) {
  EXPECT_TRUE(Reconcile(Want(2, ProvisioningState::kSucceeded),
                        {Inst(1, InstancePhase::kReady), Inst(2, InstancePhase::kReady)}, kT0)
                  .empty());
}

}  // namespace
}  // namespace berth::controlplane
