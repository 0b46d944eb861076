// ManagementService over MemoryStateStore, with a fake interpreter check: the write rules, and
// that a slow check does not hold the write lock.

#include "controlplane/management_service.h"

#include <atomic>
#include <fstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"
#include "state/test_temp_dir.h"

namespace berth::controlplane {
namespace {

using core::ProvisioningState;
using nlohmann::json;

const std::string kCodeDigest = "sha256:" + std::string(64, 'a');

json CommandDeployment(const std::string& name, const std::string& command = "serve") {
  return {{"name", name}, {"environment", {{"command", json::array({command, "{port}"})}}}};
}

// A scoring-script deployment: its write runs the interpreter check.
json ScriptDeployment(const std::string& name) {
  return {{"name", name},
          {"code_configuration",
           {{"code", "src"},
            {"scoring_script", "score.py"},
            {"artifact", {{"digest", kCodeDigest}, {"base_name", "src"}, {"is_file", false}}}}},
          {"environment", {{"python", "/fake/python3"}}}};
}

class ManagementServiceTest : public ::testing::Test {
 protected:
  ManagementServiceTest() {
    // An "uploaded" code folder: the store knows an artifact by its folder.
    std::filesystem::create_directories(artifacts_.PathOf(kCodeDigest));
  }

  ServiceOptions Options() {
    ServiceOptions options;
    options.inspect_interpreter = [this](const std::string&) -> absl::StatusOr<InterpreterInfo> {
      if (inspections_++ == 0 && block_first_check_) {
        check_entered_.Notify();
        release_check_.WaitForNotification();
      }
      return InterpreterInfo{"3.11.2", {}, {}};
    };
    return options;
  }

  void Succeed(const std::string& name) {
    auto record = store_.GetDeployment("ep1", name);
    ASSERT_TRUE(record.ok());
    ASSERT_TRUE(service_
                    .RecordDeploymentOutcome("ep1", name, record->generation,
                                             ProvisioningState::kSucceeded, "")
                    .ok());
  }

  state::TestTempDir dir_;
  state::MemoryStateStore store_;
  auth::SecretBox secrets_ = auth::SecretBox::FromKeyForTest(std::string(32, 'k'));
  ArtifactStore artifacts_{dir_.path()};
  ManualClock clock_;
  std::atomic<int> inspections_{0};
  bool block_first_check_ = false;
  absl::Notification check_entered_;
  absl::Notification release_check_;
  std::vector<std::pair<std::string, std::string>> changes_;
  ManagementService service_{store_,
                             secrets_,
                             artifacts_,
                             clock_,
                             Options(),
                             [this](const std::string& endpoint, const std::string& deployment) {
                               changes_.push_back({endpoint, deployment});
                             }};
};

TEST_F(ManagementServiceTest, CreateUpdateDeleteRules) {
  EXPECT_TRUE(
      absl::IsNotFound(service_.CreateDeployment("ep1", CommandDeployment("blue")).status()));
  ASSERT_TRUE(service_.CreateEndpoint({{"name", "ep1"}}).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(service_.CreateEndpoint({{"name", "ep1"}}).status()));
  auto created = service_.CreateDeployment("ep1", CommandDeployment("blue"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->view["provisioning_state"], "Creating");
  EXPECT_TRUE(
      absl::IsAlreadyExists(service_.CreateDeployment("ep1", CommandDeployment("blue")).status()));
  // 409 while the create runs.
  EXPECT_TRUE(absl::IsFailedPrecondition(
      service_.ApplyDeployment("ep1", "blue", CommandDeployment("blue", "other"), false).status()));
  EXPECT_TRUE(absl::IsNotFound(
      service_.ApplyDeployment("ep1", "green", CommandDeployment("green"), false).status()));
  Succeed("blue");
  auto updated = service_.ApplyDeployment("ep1", "blue", CommandDeployment("blue", "v2"), false);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->created);
  EXPECT_EQ(updated->view["provisioning_state"], "Updating");
  EXPECT_EQ(updated->view["generation"], 2);
  // A stale outcome (generation 1) is refused.
  EXPECT_TRUE(absl::IsAborted(
      service_.RecordDeploymentOutcome("ep1", "blue", 1, ProvisioningState::kSucceeded, "")));
  Succeed("blue");
  // Rewriting the same document changes nothing: no new generation.
  auto same = service_.ApplyDeployment("ep1", "blue", CommandDeployment("blue", "v2"), false);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->view["generation"], 2);
  EXPECT_EQ(same->view["provisioning_state"], "Succeeded");
  EXPECT_THAT(changes_,
              ::testing::Contains(std::make_pair(std::string("ep1"), std::string("blue"))));
}

TEST_F(ManagementServiceTest, AnImageAloneIsRefusedWhenWritten) {
  ASSERT_TRUE(service_.CreateEndpoint({{"name", "ep1"}}).ok());
  // A model folder that is not an MLflow model (no MLmodel), and only an image to serve it.
  const std::string model_digest = "sha256:" + std::string(64, 'b');
  std::filesystem::create_directories(artifacts_.PathOf(model_digest));
  std::ofstream(artifacts_.PathOf(model_digest) / "model.onnx") << "onnx";
  json doc = {
      {"name", "blue"},
      {"model",
       {{"path", "model"},
        {"artifact", {{"digest", model_digest}, {"base_name", "model"}, {"is_file", false}}}}},
      {"environment", {{"image", "mcr.microsoft.com/azureml/onnxruntime:latest"}}}};
  auto created = service_.CreateDeployment("ep1", doc);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(created.status()), "environment.image") << created.status();
  EXPECT_NE(created.status().message().find("does not run container images"), std::string::npos);
  EXPECT_TRUE(absl::IsNotFound(store_.GetDeployment("ep1", "blue").status()));
  EXPECT_EQ(inspections_.load(), 0);  // refused before any interpreter check
  // With no model at all the parse refuses it the same way.
  doc.erase("model");
  EXPECT_EQ(ErrorTarget(service_.CreateDeployment("ep1", doc).status()), "environment.image");
}

TEST_F(ManagementServiceTest, TrafficRules) {
  ASSERT_TRUE(service_.CreateEndpoint({{"name", "ep1"}}).ok());
  ASSERT_TRUE(service_.CreateDeployment("ep1", CommandDeployment("blue")).ok());
  auto unknown = service_.ApplyEndpoint("ep1", {{"traffic", {{"green", 100}}}}, false);
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status())) << unknown.status();
  auto bad_sum = service_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 50}}}}, false);
  EXPECT_FALSE(bad_sum.ok());
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 100}}}}, false).ok());
  // No delete with live traffic.
  Succeed("blue");
  EXPECT_TRUE(absl::IsFailedPrecondition(service_.DeleteDeployment("ep1", "blue").status()));
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 0}}}}, false).ok());
  auto deleted = service_.DeleteDeployment("ep1", "blue");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ((*deleted)["provisioning_state"], "Deleting");
  // A deleting deployment takes no traffic and no writes.
  EXPECT_TRUE(absl::IsInvalidArgument(
      service_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 100}}}}, false).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(
      service_.ApplyDeployment("ep1", "blue", CommandDeployment("blue"), true).status()));
}

TEST_F(ManagementServiceTest, SlowInterpreterCheckDoesNotHoldTheWriteLock) {
  ASSERT_TRUE(service_.CreateEndpoint({{"name", "ep1"}}).ok());
  ASSERT_TRUE(service_.CreateDeployment("ep1", CommandDeployment("blue")).ok());
  block_first_check_ = true;
  absl::StatusOr<ManagementService::Written> slow;
  std::thread writer([&] { slow = service_.CreateDeployment("ep1", ScriptDeployment("green")); });
  check_entered_.WaitForNotification();
  // While green's check runs: the supervisor's outcome write and other writes go through.
  EXPECT_TRUE(
      service_.RecordDeploymentOutcome("ep1", "blue", 1, ProvisioningState::kSucceeded, "").ok());
  EXPECT_TRUE(service_.CreateEndpoint({{"name", "other"}}).ok());
  EXPECT_TRUE(service_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 100}}}}, false).ok());
  EXPECT_TRUE(absl::IsNotFound(store_.GetDeployment("ep1", "green").status()));  // not yet
  release_check_.Notify();
  writer.join();
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_TRUE(slow->created);
  EXPECT_EQ(inspections_.load(), 1);
}

TEST_F(ManagementServiceTest, RecordChangedDuringTheCheckIsCheckedAgain) {
  ASSERT_TRUE(service_.CreateEndpoint({{"name", "ep1"}}).ok());
  ASSERT_TRUE(service_.CreateDeployment("ep1", ScriptDeployment("blue")).ok());
  Succeed("blue");
  inspections_ = 0;
  block_first_check_ = true;
  json update = ScriptDeployment("blue");
  update["instance_count"] = 2;
  absl::StatusOr<ManagementService::Written> slow;
  std::thread writer([&] { slow = service_.ApplyDeployment("ep1", "blue", update, false); });
  check_entered_.WaitForNotification();
  // The deployment is deleted while the update is being checked.
  ASSERT_TRUE(service_.DeleteDeployment("ep1", "blue").ok());
  release_check_.Notify();
  writer.join();
  // The update saw the change, checked again, and found the delete running: 409.
  EXPECT_TRUE(absl::IsFailedPrecondition(slow.status())) << slow.status();
  auto record = store_.GetDeployment("ep1", "blue");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, ProvisioningState::kDeleting);
  EXPECT_EQ(record->generation, 1);
}

}  // namespace
}  // namespace berth::controlplane

namespace berth::controlplane {
namespace {

// A store shared with another writer (another berthd on the same database): after the next
// read of the named kind it runs `interleave` — the other writer's write — before the reader
// sees its (now stale) result.
class InterleavingStore final : public state::StateStore {
 public:
  explicit InterleavingStore(state::StateStore& inner) : inner_(inner) {}
  std::function<void()> after_list_deployments;
  std::function<void()> after_get_endpoint;

  absl::StatusOr<state::EndpointRecord> GetEndpoint(const std::string& name) override {
    auto r = inner_.GetEndpoint(name);
    Run(after_get_endpoint);
    return r;
  }
  absl::StatusOr<std::vector<state::EndpointRecord>> ListEndpoints() override {
    return inner_.ListEndpoints();
  }
  absl::Status CreateEndpoint(const state::EndpointRecord& r) override {
    return inner_.CreateEndpoint(r);
  }
  absl::Status UpdateEndpoint(const state::EndpointRecord& r) override {
    return inner_.UpdateEndpoint(r);
  }
  absl::Status DeleteEndpoint(const std::string& name) override {
    return inner_.DeleteEndpoint(name);
  }
  absl::StatusOr<state::DeploymentRecord> GetDeployment(const std::string& e,
                                                        const std::string& n) override {
    return inner_.GetDeployment(e, n);
  }
  absl::StatusOr<std::vector<state::DeploymentRecord>> ListDeployments(
      const std::string& endpoint) override {
    auto r = inner_.ListDeployments(endpoint);
    Run(after_list_deployments);
    return r;
  }
  absl::Status CreateDeployment(const state::DeploymentRecord& r) override {
    return inner_.CreateDeployment(r);
  }
  absl::Status UpdateDeployment(const state::DeploymentRecord& r) override {
    return inner_.UpdateDeployment(r);
  }
  absl::Status DeleteDeployment(const std::string& e, const std::string& n) override {
    return inner_.DeleteDeployment(e, n);
  }
  absl::StatusOr<int64_t> Commit(const state::WriteBatch& batch) override {
    return inner_.Commit(batch);
  }
  absl::StatusOr<int64_t> CurrentRevision() override { return inner_.CurrentRevision(); }
  absl::StatusOr<state::ChangeBatch> ChangesSince(int64_t revision, size_t limit) override {
    return inner_.ChangesSince(revision, limit);
  }
  absl::StatusOr<state::ModelRecord> GetModel(const std::string& n, const std::string& v) override {
    return inner_.GetModel(n, v);
  }
  absl::StatusOr<std::vector<state::ModelRecord>> ListModels(const std::string& n) override {
    return inner_.ListModels(n);
  }
  absl::Status CreateModel(const state::ModelRecord& r) override { return inner_.CreateModel(r); }
  absl::Status DeleteModel(const std::string& n, const std::string& v) override {
    return inner_.DeleteModel(n, v);
  }
  absl::StatusOr<state::ResourceRecord> GetResource(const std::string& kind,
                                                    const std::string& key) override {
    return inner_.GetResource(kind, key);
  }
  absl::StatusOr<std::vector<state::ResourceRecord>> ListResources(
      const std::string& kind, const std::string& key_prefix) override {
    return inner_.ListResources(kind, key_prefix);
  }
  absl::StatusOr<std::vector<state::ResourceRecord>> CommitResources(
      const std::vector<state::ResourceWrite>& writes) override {
    return inner_.CommitResources(writes);
  }
  absl::StatusOr<int64_t> DeleteResources(const std::string& kind,
                                          const std::string& key_prefix) override {
    return inner_.DeleteResources(kind, key_prefix);
  }
  absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& k) override {
    return inner_.GetSetting(k);
  }
  absl::Status PutSetting(const std::string& k, const std::string& v) override {
    return inner_.PutSetting(k, v);
  }

 private:
  static void Run(std::function<void()>& once) {
    if (!once) return;
    auto f = std::move(once);
    once = nullptr;
    f();
  }
  state::StateStore& inner_;
};

// Two services on one store, as two berthd sharing a database: the cross-record rules hold
// through the store's conditional writes, not through either service's lock.
class SharedStoreTest : public ManagementServiceTest {
 protected:
  SharedStoreTest() {
    EXPECT_TRUE(mine_.CreateEndpoint({{"name", "ep1"}}).ok());
    EXPECT_TRUE(mine_.CreateDeployment("ep1", CommandDeployment("blue")).ok());
    EXPECT_TRUE(mine_.CreateDeployment("ep1", CommandDeployment("green")).ok());
    Succeed("blue");
    Succeed("green");
    EXPECT_TRUE(mine_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 100}}}}, false).ok());
  }
  InterleavingStore shared_{store_};
  ManagementService mine_{shared_, secrets_,  artifacts_,
                          clock_,  Options(), [](const std::string&, const std::string&) {}};
  ManagementService theirs_{store_, secrets_,  artifacts_,
                            clock_, Options(), [](const std::string&, const std::string&) {}};
};

TEST_F(SharedStoreTest, TrafficToADeploymentDeletedMeanwhileIsRefused) {
  // We check that green exists; meanwhile the other writer deletes it (it has no traffic yet).
  shared_.after_list_deployments = [&] {
    ASSERT_TRUE(theirs_.DeleteDeployment("ep1", "green").ok());
  };
  auto written = mine_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 50}, {"green", 50}}}}, false);
  EXPECT_TRUE(absl::IsAborted(written.status())) << written.status();
  auto endpoint = store_.GetEndpoint("ep1");
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ(endpoint->spec["traffic"], (json{{"blue", 100}}));  // nothing changed
}

TEST_F(SharedStoreTest, DeletingADeploymentGivenTrafficMeanwhileIsRefused) {
  // We check that green has no traffic; meanwhile the other writer gives it some.
  shared_.after_get_endpoint = [&] {
    ASSERT_TRUE(
        theirs_.ApplyEndpoint("ep1", {{"traffic", {{"blue", 50}, {"green", 50}}}}, false).ok());
  };
  auto deleted = mine_.DeleteDeployment("ep1", "green");
  EXPECT_TRUE(absl::IsAborted(deleted.status())) << deleted.status();
  auto green = store_.GetDeployment("ep1", "green");
  ASSERT_TRUE(green.ok());
  EXPECT_EQ(green->state, ProvisioningState::kSucceeded);  // not being deleted
}

}  // namespace
}  // namespace berth::controlplane
