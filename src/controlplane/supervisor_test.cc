// Supervisor over fakes: FakeComputeDriver (no processes), MemoryStateStore, ManualClock,
// FakeProber, FakeRoutingSink; the control and blocking executors are io_contexts the test
// runs by hand. Declared state is written through the real ManagementService.

#include "controlplane/supervisor.h"

#include <csignal>

#include "compute/fake_compute_driver.h"
#include "controlplane/supervisor/fake_prober.h"
#include "gateway/fake_routing_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"
#include "state/test_temp_dir.h"

namespace berth::controlplane {
namespace {

namespace asio = http::asio;
using core::ProvisioningState;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A custom-command deployment (no interpreter check, nothing to copy) probed every second.
json DeploymentDoc(const std::string& name, const std::string& command = "serve",
                   int instance_count = 1) {
  json probe = {{"initial_delay", 1}, {"period", 1}, {"timeout", 1}, {"failure_threshold", 3}};
  return {{"name", name},
          {"environment", {{"command", json::array({command, "--port", "{port}"})}}},
          {"instance_count", instance_count},
          {"request_settings", {{"request_timeout_ms", 5000}}},
          {"readiness_probe", probe},
          {"liveness_probe", probe}};
}

class SupervisorTest : public ::testing::Test {
 protected:
  SupervisorTest() {
    SupervisorOptions options;
    options.data_dir = dir_.path();
    options.tick = milliseconds(1);
    options.stop_grace = milliseconds(0);
    supervisor_ =
        std::make_unique<Supervisor>(control_.get_executor(), blocking_.get_executor(), store_,
                                     secrets_, launcher_, prober_, driver_, sink_, clock_, options);
    supervisor_->SetRecorder(&service_);
    service_.SetInstanceObserver(supervisor_.get());
  }
  ~SupervisorTest() override {
    supervisor_->Shutdown();
    supervisor_.reset();
  }

  // Runs the tick loop and the blocking jobs a few rounds at the current (manual) time.
  void Run() {
    for (int round = 0; round < 4; ++round) {
      blocking_.restart();
      blocking_.poll();
      control_.restart();
      control_.run_for(milliseconds(3));
      control_.poll();  // what is ready even if the thread was descheduled past the deadline
    }
  }
  void Advance(std::chrono::nanoseconds d) {
    clock_.Advance(d);
    Run();
  }

  void CreateEndpoint(const std::string& name = "ep1") {
    auto written = service_.CreateEndpoint({{"name", name}});
    ASSERT_TRUE(written.ok()) << written.status();
  }
  void CreateDeployment(const json& doc, const std::string& endpoint = "ep1") {
    auto written = service_.CreateDeployment(endpoint, doc);
    ASSERT_TRUE(written.ok()) << written.status();
  }
  state::DeploymentRecord Record(const std::string& name, const std::string& endpoint = "ep1") {
    auto record = store_.GetDeployment(endpoint, name);
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? *record : state::DeploymentRecord{};
  }
  // Ready instance ids of a deployment in the last snapshot published.
  std::vector<int64_t> ReadyIds(const std::string& deployment,
                                const std::string& endpoint = "ep1") {
    std::vector<int64_t> ids;
    const gateway::EndpointRouting* e = sink_.Last()->FindEndpoint(endpoint);
    if (e == nullptr) return ids;
    const auto* d = e->FindDeployment(deployment);
    if (d == nullptr) return ids;
    for (const auto& a : (*d)->ready) ids.push_back(a.id);
    return ids;
  }
  // Starts ep/blue with one instance and makes it Ready.
  void StartBlue() {
    CreateEndpoint();
    CreateDeployment(DeploymentDoc("blue"));
    supervisor_->Start();
    Run();
    Advance(seconds(1));
  }

  state::TestTempDir dir_;
  asio::io_context control_;
  asio::io_context blocking_;
  ManualClock clock_;
  state::MemoryStateStore store_;
  auth::SecretBox secrets_ = auth::SecretBox::FromKeyForTest(std::string(32, 'k'));
  ArtifactStore artifacts_{dir_.path()};
  compute::FakeComputeDriver driver_;
  LocalLauncher launcher_{artifacts_, nullptr, driver_, {}};
  FakeProber prober_;
  gateway::FakeRoutingSink sink_;
  ManagementService service_{store_,
                             secrets_,
                             artifacts_,
                             clock_,
                             {},
                             [this](const std::string& endpoint, const std::string& deployment) {
                               if (supervisor_) supervisor_->Notify(endpoint, deployment);
                             }};
  std::unique_ptr<Supervisor> supervisor_;
};

TEST_F(SupervisorTest, StartsAnInstanceAndPublishesItOnceReady) {
  CreateEndpoint();
  CreateDeployment(DeploymentDoc("blue"));
  supervisor_->Start();
  Run();
  ASSERT_EQ(driver_.starts().size(), 1u);
  EXPECT_THAT(driver_.starts()[0].spec.argv,
              ::testing::ElementsAre("serve", "--port", ::testing::_));
  // Routed (the endpoint is known) but not ready yet... until the first readiness probe.
  EXPECT_TRUE(ReadyIds("blue").empty());
  Advance(seconds(1));
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(1));
  EXPECT_EQ(Record("blue").state, ProvisioningState::kSucceeded);
  const auto& address = (*sink_.Last()->FindEndpoint("EP1")->FindDeployment("Blue"))->ready[0];
  EXPECT_GT(address.port, 0);
  EXPECT_GT(address.incarnation, 0u);
  // The keys are the endpoint's (unsealed once, when its record was read).
  auto keys = service_.GetKeys("ep1");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(sink_.Last()->FindEndpoint("ep1")->primary_key, (*keys)["primaryKey"]);
}

TEST_F(SupervisorTest, PublishesNothingWhileNothingChanges) {
  StartBlue();
  size_t published = sink_.PublishCount();
  for (int i = 0; i < 5; ++i) Advance(seconds(1));  // probes keep passing
  EXPECT_EQ(sink_.PublishCount(), published);
}

TEST_F(SupervisorTest, ReusesTheRoutingOfEndpointsThatDidNotChange) {
  CreateEndpoint("one");
  CreateEndpoint("two");
  CreateDeployment(DeploymentDoc("blue"), "one");
  supervisor_->Start();
  Run();
  auto before = sink_.Last();
  CreateDeployment(DeploymentDoc("green"), "two");
  auto after = sink_.Last();
  ASSERT_NE(before, after);
  EXPECT_EQ(before->endpoints.at("one"), after->endpoints.at("one"));  // shared, not rebuilt
  EXPECT_NE(before->endpoints.at("two"), after->endpoints.at("two"));
  EXPECT_GT(after->version, before->version);
}

TEST_F(SupervisorTest, RestartsACrashedInstanceWithBackoff) {
  StartBlue();
  ASSERT_EQ(driver_.starts().size(), 1u);
  compute::InstanceId first = driver_.starts()[0].id;
  driver_.SimulateExit(first, 1);
  Run();
  EXPECT_TRUE(ReadyIds("blue").empty());   // out of rotation at once
  EXPECT_EQ(driver_.starts().size(), 1u);  // not before the backoff
  Advance(RestartBackoff(0));
  ASSERT_EQ(driver_.starts().size(), 2u);
  Advance(seconds(1));
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(1));  // same id, new incarnation
  json view = supervisor_->InstancesJson("ep1", "blue");
  ASSERT_EQ(view.size(), 1u);
  EXPECT_EQ(view[0]["restarts"], 1);
  EXPECT_EQ(Record("blue").state, ProvisioningState::kSucceeded);
}

TEST_F(SupervisorTest, RollingUpdateDrainsTheOldInstanceAfterTheNewOneIsReady) {
  StartBlue();
  compute::InstanceId old_process = driver_.starts()[0].id;
  sink_.SetInFlight("ep1", "blue", 1, 2);  // two answers still owed by the old instance
  driver_.set_exit_on_stop(true);
  auto written = service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue", "serve-v2"), false);
  ASSERT_TRUE(written.ok()) << written.status();
  Run();
  ASSERT_EQ(driver_.starts().size(), 2u);
  EXPECT_EQ(driver_.starts()[1].spec.argv[0], "serve-v2");
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(1));  // old keeps serving meanwhile
  EXPECT_TRUE(driver_.stops().empty());
  Advance(seconds(1));
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(2));  // new in, old out of rotation
  EXPECT_TRUE(driver_.stops().empty()) << "stopped before its requests were answered";
  sink_.SetInFlight("ep1", "blue", 1, 0);
  Run();
  ASSERT_EQ(driver_.stops().size(), 1u);
  EXPECT_EQ(driver_.stops()[0].id, old_process);
  Run();
  EXPECT_EQ(Record("blue").state, ProvisioningState::kSucceeded);
  EXPECT_EQ(Record("blue").generation, 2);
}

// The network and the limits an instance runs with are part of how it is launched: changing
// them rolls new instances, as a changed command does.
TEST_F(SupervisorTest, ChangedEgressOrLimitsLaunchNewInstances) {
  StartBlue();
  json closed = DeploymentDoc("blue");
  closed["egress_public_network_access"] = "disabled";
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", closed, false).ok());
  Run();
  ASSERT_EQ(driver_.starts().size(), 2u);
  Advance(seconds(1));  // the update finishes once its instance is ready
  json limited = closed;
  limited["resources"] = {{"limits", {{"memory", "256Mi"}}}};
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", limited, false).ok());
  Run();
  ASSERT_EQ(driver_.starts().size(), 3u);
  EXPECT_EQ(driver_.starts()[2].spec.limits.memory_bytes, 256ull << 20);
}

TEST_F(SupervisorTest, StartupTimeoutFailsTheDeploymentWithAReason) {
  prober_.SetDefaultHealthy(false);
  CreateEndpoint();
  json doc = DeploymentDoc("blue");
  doc["liveness_probe"]["failure_threshold"] = 100;  // not killed for liveness meanwhile
  CreateDeployment(doc);
  supervisor_->Start();
  Run();
  // initial_delay 1 s + period 1 s × failure_threshold 3 + timeout 1 s.
  for (int i = 0; i < 8 && Record("blue").state != ProvisioningState::kFailed; ++i) {
    Advance(seconds(1));
  }
  state::DeploymentRecord record = Record("blue");
  EXPECT_EQ(record.state, ProvisioningState::kFailed);
  EXPECT_THAT(record.reason, ::testing::HasSubstr("instance 1 was not ready after 5 s"));
  EXPECT_THAT(record.reason, ::testing::HasSubstr("berth: starting instance 1"));  // log tail
}

TEST_F(SupervisorTest, LaunchFailureFailsTheDeployment) {
  driver_.FailNextStart(absl::FailedPreconditionError("cannot execute 'serve'"));
  CreateEndpoint();
  CreateDeployment(DeploymentDoc("blue"));
  supervisor_->Start();
  Run();
  Run();
  state::DeploymentRecord record = Record("blue");
  EXPECT_EQ(record.state, ProvisioningState::kFailed);
  EXPECT_THAT(record.reason, ::testing::HasSubstr("cannot execute 'serve'"));
}

TEST_F(SupervisorTest, DeleteStopsInstancesAndRemovesTheRecordAndFolders) {
  StartBlue();
  std::filesystem::path folder = dir_.path() / "instances" / "ep1" / "blue";
  ASSERT_TRUE(std::filesystem::exists(folder));
  auto deleted = service_.DeleteDeployment("ep1", "blue");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(sink_.Last()->FindEndpoint("ep1")->FindDeployment("blue"), nullptr);  // unrouted now
  Run();
  ASSERT_EQ(driver_.stops().size(), 1u);
  Run();
  EXPECT_TRUE(absl::IsNotFound(store_.GetDeployment("ep1", "blue").status()));
  EXPECT_FALSE(std::filesystem::exists(folder));
  EXPECT_TRUE(supervisor_->InstancesJson("ep1", "blue").empty());
}

TEST_F(SupervisorTest, EndpointDeleteRemovesEverything) {
  StartBlue();
  ASSERT_TRUE(service_.DeleteEndpoint("ep1").ok());
  EXPECT_EQ(sink_.Last()->FindEndpoint("ep1"), nullptr);
  for (int i = 0; i < 3; ++i) Run();
  EXPECT_TRUE(absl::IsNotFound(store_.GetEndpoint("ep1").status()));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "instances" / "ep1"));
  EXPECT_TRUE(driver_.Running().empty());
}

TEST_F(SupervisorTest, LivenessFailuresRestartTheInstance) {
  StartBlue();
  int port = (*sink_.Last()->FindEndpoint("ep1")->FindDeployment("blue"))->ready[0].port;
  prober_.SetHealthy(port, false);
  for (int i = 0; i < 5 && driver_.stops().empty(); ++i) Advance(seconds(1));
  ASSERT_EQ(driver_.stops().size(), 1u);
  EXPECT_EQ(driver_.stops()[0].grace, milliseconds(0));
}

namespace berth::controlplane {
namespace {

// Another berthd sharing the database writes without telling this supervisor: it learns of
// the write from the store's change feed.
TEST_F(SupervisorTest, WritesByAnotherWriterArriveThroughTheChangeFeed) {
  StartBlue();
  ManagementService other(store_, secrets_, artifacts_, clock_, {},
                          [](const std::string&, const std::string&) {});
  ASSERT_TRUE(other.CreateDeployment("ep1", DeploymentDoc("green")).ok());
  size_t published = sink_.PublishCount();
  Run();
  ASSERT_EQ(driver_.starts().size(), 2u);  // blue's, then green's
  Advance(seconds(1));
  EXPECT_THAT(ReadyIds("green"), ::testing::ElementsAre(1));
  EXPECT_GT(sink_.PublishCount(), published);
  ASSERT_TRUE(other.DeleteEndpoint("ep1").ok());
  for (int i = 0; i < 5 && sink_.Last()->FindEndpoint("ep1") != nullptr; ++i) {
    Advance(seconds(1));
  }
  EXPECT_EQ(sink_.Last()->FindEndpoint("ep1"), nullptr);
}

}  // namespace
}  // namespace berth::controlplane

// ------------------------------------------------------------------------------- scaling

json AutoscaledDoc(const std::string& name, int min, int max, int delay_s) {
  json doc = DeploymentDoc(name);
  doc.erase("instance_count");
  doc["scale_settings"] = {{"type", "target_utilization"}, {"min_instances", min},
                           {"max_instances", max},         {"target_utilization_percentage", 70},
                           {"polling_interval", 1},        {"scale_down_delay", delay_s}};
  return doc;
}

// Instances of a deployment that are not stopping or gone, per the driver.
size_t Running(const compute::FakeComputeDriver& driver) { return driver.Running().size(); }

TEST_F(SupervisorTest, AutoscalingFollowsTheLoadAndScalesToZeroWhenIdle) {
  CreateEndpoint();
  CreateDeployment(AutoscaledDoc("blue", 0, 3, 5));
  supervisor_->Start();
  Run();
  Advance(seconds(1));
  // A new deployment proves itself with one instance, even with min_instances 0.
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(1));
  EXPECT_EQ(Record("blue").state, ProvisioningState::kSucceeded);
  const auto* routing = sink_.Last()->FindEndpoint("ep1")->FindDeployment("blue");
  EXPECT_TRUE((*routing)->expects_instances);

  // 3 in flight + 2 queued over 1 instance x 1: ceil(5 / 0.7) = 8, at most 3.
  sink_.SetLoad("ep1", "blue", {3, 2, 5});
  Advance(seconds(1));
  EXPECT_EQ(Running(driver_), 3u);
  json live = supervisor_->LiveJson("ep1", "blue");
  EXPECT_EQ(live["desired_instances"], 3);
  ASSERT_FALSE(live["scale_decisions"].empty());
  EXPECT_EQ(live["scale_decisions"].back()["to"], 3);
  EXPECT_THAT(live["scale_decisions"].back()["reason"].get<std::string>(),
              ::testing::HasSubstr("above target 70%"));

  // Idle: no load and no arrivals. Nothing happens inside the window...
  sink_.SetLoad("ep1", "blue", {0, 0, 5});
  for (int s = 0; s < 3; ++s) Advance(seconds(1));
  EXPECT_EQ(Running(driver_), 3u);
  // ...then the deployment goes to zero, and says so.
  for (int s = 0; s < 4; ++s) Advance(seconds(1));
  Run();
  EXPECT_EQ(Running(driver_), 0u);
  live = supervisor_->LiveJson("ep1", "blue");
  EXPECT_EQ(live["desired_instances"], 0);
  EXPECT_EQ(live["scaled_to_zero"], true);
  routing = sink_.Last()->FindEndpoint("ep1")->FindDeployment("blue");
  EXPECT_TRUE((*routing)->ready.empty());
  EXPECT_TRUE((*routing)->expects_instances);  // a request waits and wakes it
  EXPECT_EQ(Record("blue").state, ProvisioningState::kSucceeded);

  // A waiting request wakes it at once, and the cold instance is probed at once.
  size_t starts = driver_.starts().size();
  supervisor_->OnDemand("ep1", "blue");
  Run();
  EXPECT_EQ(driver_.starts().size(), starts + 1);
  Run();
  EXPECT_EQ(ReadyIds("blue").size(), 1u) << "not probed before initial_delay";
  live = supervisor_->LiveJson("ep1", "blue");
  EXPECT_EQ(live["scaled_to_zero"], false);
  EXPECT_THAT(live["scale_decisions"].back()["reason"].get<std::string>(),
              ::testing::HasSubstr("scaled to zero"));
}

TEST_F(SupervisorTest, FixedDeploymentsExpectInstancesUnlessTheirTemplateFailed) {
  StartBlue();
  const auto* routing = sink_.Last()->FindEndpoint("ep1")->FindDeployment("blue");
  EXPECT_TRUE((*routing)->expects_instances);
  EXPECT_TRUE((*routing)->retry_on_instance_failure);
  json doc = DeploymentDoc("blue", "serve-v2");
  doc["request_settings"]["retry_on_instance_failure"] = false;
  driver_.FailNextStart(absl::InternalError("no such program"));
  auto written = service_.ApplyDeployment("ep1", "blue", doc, false);
  ASSERT_TRUE(written.ok()) << written.status();
  Run();
  Run();
  EXPECT_EQ(Record("blue").state, ProvisioningState::kFailed);
  routing = sink_.Last()->FindEndpoint("ep1")->FindDeployment("blue");
  EXPECT_FALSE((*routing)->expects_instances);
  EXPECT_FALSE((*routing)->retry_on_instance_failure);
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(1));  // the old one keeps serving
}

TEST_F(SupervisorTest, ChangingInstanceCountOnlyScales) {
  StartBlue();
  auto written = service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue", "serve", 3), false);
  ASSERT_TRUE(written.ok()) << written.status();
  Run();
  Advance(seconds(1));
  EXPECT_THAT(ReadyIds("blue"), ::testing::ElementsAre(1, 2, 3));
  EXPECT_TRUE(driver_.stops().empty());
  EXPECT_EQ(Record("blue").state, ProvisioningState::kSucceeded);
}

}  // namespace
}  // namespace berth::controlplane
