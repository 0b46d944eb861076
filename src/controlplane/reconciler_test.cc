#include "controlplane/reconciler.h"

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

TEST(ReconcileTest, SteadyStateDoesNothing) {
  EXPECT_TRUE(Reconcile(Want(2, ProvisioningState::kSucceeded),
                        {Inst(1, InstancePhase::kReady), Inst(2, InstancePhase::kReady)}, kT0)
                  .empty());
}

}  // namespace
}  // namespace berth::controlplane
