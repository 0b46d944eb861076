// Model-based test in the manner of LevelDB's ModelDB: random operations go to the memory store
// and the SQLite store alike, and every answer (status code, message, records) must agree.
// The SQLite store is closed and reopened now and then, so persistence is in the comparison too.

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"
#include "state/sqlite/sqlite_state_store.h"
#include "state/test_temp_dir.h"

namespace berth::state {
namespace {

using nlohmann::json;

// Small name pools so that creates collide and updates/deletes often hit.
const std::vector<std::string> kEndpoints = {"a", "ab", "b", "B", "\xc3\xa9"};
const std::vector<std::string> kDeployments = {"blue", "green", "Blue", "x"};
const std::vector<std::string> kKeys = {"admin_token_sha256", "k", "k2"};
const std::vector<std::string> kModels = {"m", "M", "m2"};
const std::vector<std::string> kVersions = {"1", "2", "10", "01", "a", "1.0"};

class RandomOps {
 public:
  explicit RandomOps(uint32_t seed) : rng_(seed) {}

  int Int(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  int64_t Int64() { return std::uniform_int_distribution<int64_t>()(rng_); }
  const std::string& Pick(const std::vector<std::string>& v) { return v[Int(v.size())]; }
  core::ProvisioningState State() { return static_cast<core::ProvisioningState>(Int(5)); }
  std::string Text() {
    static const char* kTexts[] = {"", "x", "it's", "line\nbreak", "\xe4\xb8\xad", "long text"};
    return kTexts[Int(6)];
  }
  json Spec() {
    switch (Int(4)) {
      case 0:
        return json::object();
      case 1:
        return {{"instance_count", Int(10)}, {"description", Text()}};
      case 2:
        return {{"traffic", {{"blue", 100 - Int(50)}}}, {"weights", {0.5, -1.25, Int64()}}};
      default:
        return json::array({Text(), nullptr, true});
    }
  }
  EndpointRecord Endpoint() {
    EndpointRecord r;
    r.name = Pick(kEndpoints);
    r.spec = Spec();
    r.state = State();
    r.reason = Text();
    r.primary_key_sealed = Text();
    r.secondary_key_sealed = Text();
    r.token_secret_sealed = Text();
    r.created_at_ms = Int64();
    r.updated_at_ms = Int64();
    return r;
  }
  DeploymentRecord Deployment() {
    DeploymentRecord r;
    r.endpoint = Pick(kEndpoints);
    r.name = Pick(kDeployments);
    r.spec = Spec();
    r.state = State();
    r.reason = Text();
    for (int i = Int(3); i > 0; --i) r.warnings.push_back(Text());
    r.generation = Int64();
    r.created_at_ms = Int64();
    r.updated_at_ms = Int64();
    return r;
  }
  ModelRecord Model() {
    ModelRecord r;
    r.name = Pick(kModels);
    r.version = Pick(kVersions);
    r.spec = Spec();
    r.artifact.digest = Text();
    r.artifact.base_name = Text();
    r.artifact.is_file = Int(2) == 1;
    r.created_at_ms = Int64();
    return r;
  }

 private:
  std::mt19937 rng_;
};

void ExpectSameStatus(const absl::Status& model, const absl::Status& real, const std::string& op) {
  EXPECT_EQ(model.code(), real.code()) << op << ": " << model << " vs " << real;
  EXPECT_EQ(model.message(), real.message()) << op;
}

template <typename T>
void ExpectSame(const absl::StatusOr<T>& model, const absl::StatusOr<T>& real,
                const std::string& op) {
  ExpectSameStatus(model.status(), real.status(), op);
  if (model.ok() && real.ok()) {
    EXPECT_TRUE(*model == *real) << op;
  }
}

class StoreModelTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  void Reopen() {
    sqlite_.reset();  // closes the file first
    auto opened = SqliteStateStore::Open(dir_.path() / "state.db");
    ASSERT_TRUE(opened.ok()) << opened.status();
    sqlite_ = std::move(*opened);
  }

  void ExpectSameContents() {
    ExpectSame(model_.ListEndpoints(), sqlite_->ListEndpoints(), "ListEndpoints");
    for (const std::string& ep : kEndpoints) {
      ExpectSame(model_.ListDeployments(ep), sqlite_->ListDeployments(ep), "ListDeployments");
    }
    for (const std::string& key : kKeys) {
      ExpectSame(model_.GetSetting(key), sqlite_->GetSetting(key), "GetSetting");
    }
    ExpectSame(model_.ListModels(""), sqlite_->ListModels(""), "ListModels");
  }

  TestTempDir dir_;
  MemoryStateStore model_;
  std::unique_ptr<SqliteStateStore> sqlite_;
};

TEST_P(StoreModelTest, RandomOperationsAgree) {
  ASSERT_NO_FATAL_FAILURE(Reopen());
  RandomOps rand(GetParam());
  constexpr int kSteps = 1500;
  // The pools are small enough that the interesting paths must be taken; these prove it.
  int deployments_created = 0;
  int cascades = 0;
  int models_created = 0;
  for (int step = 0; step < kSteps && !HasFailure(); ++step) {
    const std::string at = absl::StrCat("seed ", GetParam(), " step ", step);
    switch (rand.Int(16)) {
      case 0: {
        EndpointRecord r = rand.Endpoint();
        ExpectSameStatus(model_.CreateEndpoint(r), sqlite_->CreateEndpoint(r), at + " create ep");
        break;
      }
      case 1: {
        EndpointRecord r = rand.Endpoint();
        ExpectSameStatus(model_.UpdateEndpoint(r), sqlite_->UpdateEndpoint(r), at + " update ep");
        break;
      }
      case 2: {
        // Rarer than creation so that deployments accumulate before a cascade.
        if (rand.Int(3) != 0) break;
        const std::string& name = rand.Pick(kEndpoints);
        const bool had_deployments = !model_.ListDeployments(name)->empty();
        absl::Status status = model_.DeleteEndpoint(name);
        ExpectSameStatus(status, sqlite_->DeleteEndpoint(name), at + " delete ep");
        cascades += status.ok() && had_deployments;
        break;
      }
      case 3: {
        const std::string& name = rand.Pick(kEndpoints);
        ExpectSame(model_.GetEndpoint(name), sqlite_->GetEndpoint(name), at + " get ep");
        break;
      }
      case 4:
      case 5: {
        DeploymentRecord r = rand.Deployment();
        absl::Status status = model_.CreateDeployment(r);
        ExpectSameStatus(status, sqlite_->CreateDeployment(r), at + " create dep");
        deployments_created += status.ok();
        break;
      }
      case 6: {
        DeploymentRecord r = rand.Deployment();
        ExpectSameStatus(model_.UpdateDeployment(r), sqlite_->UpdateDeployment(r),
                         at + " update dep");
        break;
      }
      case 7: {
        const std::string& ep = rand.Pick(kEndpoints);
        const std::string& name = rand.Pick(kDeployments);
        ExpectSameStatus(model_.DeleteDeployment(ep, name), sqlite_->DeleteDeployment(ep, name),
                         at + " delete dep");
        break;
      }
      case 8: {
        const std::string& ep = rand.Pick(kEndpoints);
        const std::string& name = rand.Pick(kDeployments);
        ExpectSame(model_.GetDeployment(ep, name), sqlite_->GetDeployment(ep, name),
                   at + " get dep");
        break;
      }
      case 9: {
        const std::string& ep = rand.Pick(kEndpoints);
        ExpectSame(model_.ListDeployments(ep), sqlite_->ListDeployments(ep), at + " list deps");
        break;
      }
      case 10: {
        const std::string& key = rand.Pick(kKeys);
        const std::string value = rand.Text();
        ExpectSameStatus(model_.PutSetting(key, value), sqlite_->PutSetting(key, value),
                         at + " put setting");
        break;
      }
      case 11: {
        ExpectSame(model_.ListEndpoints(), sqlite_->ListEndpoints(), at + " list eps");
        break;
      }
      case 12: {
        ModelRecord r = rand.Model();
        absl::Status status = model_.CreateModel(r);
        ExpectSameStatus(status, sqlite_->CreateModel(r), at + " create model");
        models_created += status.ok();
        break;
      }
      case 13: {
        const std::string& name = rand.Pick(kModels);
        const std::string& version = rand.Pick(kVersions);
        if (rand.Int(2) == 0) {
          ExpectSame(model_.GetModel(name, version), sqlite_->GetModel(name, version),
                     at + " get model");
        } else {
          ExpectSameStatus(model_.DeleteModel(name, version), sqlite_->DeleteModel(name, version),
                           at + " delete model");
        }
        break;
      }
      case 14: {
        const std::string name = rand.Int(3) == 0 ? std::string() : rand.Pick(kModels);
        ExpectSame(model_.ListModels(name), sqlite_->ListModels(name), at + " list models");
        break;
      }
      default:
        if (rand.Int(20) == 0) {
          ASSERT_NO_FATAL_FAILURE(Reopen());
        }
        break;
    }
  }
  ExpectSameContents();
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ExpectSameContents();
  EXPECT_GT(deployments_created, 20);
  EXPECT_GT(cascades, 3);
  EXPECT_GT(models_created, 20);
}

INSTANTIATE_TEST_SUITE_P(Seeds, StoreModelTest, ::testing::Values(1u, 2u, 3u, 20240601u));

}  // namespace
}  // namespace berth::state
