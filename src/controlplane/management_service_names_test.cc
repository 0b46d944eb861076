// ManagementService's name rules over a MemoryStateStore: deployment names are kept as written
// and matched ignoring case by traffic, mirror_traffic, get, update and delete.

#include <stdlib.h>

#include <filesystem>
#include <memory>

#include "auth/secrets.h"
#include "common/errors.h"
#include "controlplane/management_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"

namespace berth::controlplane {
namespace {

namespace fs = std::filesystem;
using core::ProvisioningState;
using nlohmann::json;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

class ManagementServiceNamesTest : public ::testing::Test {
 protected:
  ManagementServiceNamesTest()
      : secrets_(auth::SecretBox::FromKeyForTest(std::string(32, 'k'))),
        service_(store_, secrets_, *MakeArtifacts(), clock_, ServiceOptions{},
                 [](const std::string&, const std::string&) {}) {
    auto created = service_.CreateEndpoint(json{{"name", "ep1"}});
    EXPECT_TRUE(created.ok()) << created.status();
  }
  ~ManagementServiceNamesTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ArtifactStore* MakeArtifacts() {
    std::string pattern = ::testing::TempDir() + "berth_service_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    artifacts_ = std::make_unique<ArtifactStore>(dir_);
    return artifacts_.get();
  }

  // Creates a custom-command deployment and marks it Succeeded, as the supervisor would.
  void CreateDeployment(const std::string& name) {
    auto created = service_.CreateDeployment(
        "ep1", json{{"name", name}, {"environment", {{"command", {"serve"}}}}});
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_TRUE(
        service_.RecordDeploymentOutcome("ep1", name, 1, ProvisioningState::kSucceeded, "").ok());
  }

  json StoredTraffic(const std::string& key) {
    auto record = store_.GetEndpoint("ep1");
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? record->spec.value(key, json::object()) : json();
  }

  fs::path dir_;
  ManualClock clock_;
  state::MemoryStateStore store_;
  auth::SecretBox secrets_;
  std::unique_ptr<ArtifactStore> artifacts_;
  ManagementService service_;
};

TEST_F(ManagementServiceNamesTest, TrafficKeysAreStoredUnderTheDeploymentsNames) {
  CreateDeployment("Green");
  CreateDeployment("blue");
  auto written = service_.ApplyEndpoint(
      "ep1", json{{"traffic", {{"GREEN", 100}}}, {"mirror_traffic", {{"Blue", 10}}}}, false);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(StoredTraffic("traffic"), (json{{"Green", 100}}));
  EXPECT_EQ(StoredTraffic("mirror_traffic"), (json{{"blue", 10}}));
  EXPECT_EQ(written->view["traffic"], (json{{"Green", 100}, {"blue", 0}}));
  EXPECT_EQ(written->view["mirror_traffic"], (json{{"blue", 10}}));
}

TEST_F(ManagementServiceNamesTest, TrafficForAnUnknownDeploymentIsRefused) {
  CreateDeployment("Green");
  auto written = service_.ApplyEndpoint("ep1", json{{"traffic", {{"Greem", 100}}}}, false);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(written.status()), "traffic.Greem");
  EXPECT_EQ(StoredTraffic("traffic"), json::object());
}

TEST_F(ManagementServiceNamesTest, CreatingANameThatDiffersOnlyInCaseIsAConflict) {
  CreateDeployment("Green");
  auto again = service_.CreateDeployment(
      "ep1", json{{"name", "green"}, {"environment", {{"command", {"other"}}}}});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(Message(again.status()), HasSubstr("as 'Green'"));
  auto deployments = store_.ListDeployments("ep1");
  ASSERT_TRUE(deployments.ok());
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ((*deployments)[0].name, "Green");
  EXPECT_EQ((*deployments)[0].spec["environment"]["command"], (json{"serve"}));
}

TEST_F(ManagementServiceNamesTest, GetAndUpdateFindTheDeploymentIgnoringCase) {
  CreateDeployment("Green");
  auto got = service_.GetDeployment("ep1", "GREEN");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["name"], "Green");

  auto updated = service_.ApplyDeployment("ep1", "gReEn",
                                          json{{"name", "gReEn"}, {"instance_count", 2}}, true);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->created);
  EXPECT_EQ(updated->view["name"], "Green");
  auto deployments = store_.ListDeployments("ep1");
  ASSERT_TRUE(deployments.ok());
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ((*deployments)[0].name, "Green");
  EXPECT_EQ((*deployments)[0].spec["instance_count"], 2);
}

TEST_F(ManagementServiceNamesTest, DeleteChecksLiveTrafficIgnoringCase) {
  CreateDeployment("Green");
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json{{"traffic", {{"green", 100}}}}, false).ok());
  auto refused = service_.DeleteDeployment("ep1", "GREEN");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(refused.status()), HasSubstr("'Green' has 100% of live traffic"));
  EXPECT_EQ(store_.GetDeployment("ep1", "Green")->state, ProvisioningState::kSucceeded);

  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json{{"traffic", {{"GREEN", 0}}}}, false).ok());
  auto deleted = service_.DeleteDeployment("ep1", "green");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(store_.GetDeployment("ep1", "Green")->state, ProvisioningState::kDeleting);
}

TEST_F(ManagementServiceNamesTest, TrafficStoredInAnotherCaseStillCounts) {
  // A record written while traffic keys were lower-cased.
  CreateDeployment("Green");
  auto record = store_.GetEndpoint("ep1");
  ASSERT_TRUE(record.ok());
  record->spec["traffic"] = {{"green", 100}};
  ASSERT_TRUE(store_.UpdateEndpoint(*record).ok());

  auto view = service_.GetEndpoint("ep1");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ((*view)["traffic"], (json{{"Green", 100}}));
  auto refused = service_.DeleteDeployment("ep1", "Green");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace berth::controlplane
