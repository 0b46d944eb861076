// Model-based test in the manner of LevelDB's ModelDB: random operations go to the memory store
// and the SQLite store alike, and every answer (status code, message, records) must agree.
// The SQLite store is closed and reopened now and then, so persistence is in the comparison too.
// Revisions, conditional writes, batches and the change feed (with a short retention, so that
// pruning is exercised) are compared as well; the name pools differ in case only, so that
// case-insensitive matching is.

#include <algorithm>
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
  // A revision for a conditional write of a record now at `stored`: mostly right, sometimes
  // stale, sometimes 0 (unconditional).
  int64_t RevisionFor(int64_t stored) {
    switch (Int(4)) {
      case 0:
        return 0;
      case 1:
        return stored + 1 - 2 * Int(2);
      default:
        return stored;
    }
  }
  WriteBatch::Action Action() { return static_cast<WriteBatch::Action>(Int(4)); }

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
    auto opened = SqliteStateStore::Open(dir_.path() / "state.db", kRetention);
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
    ExpectSame(model_.CurrentRevision(), sqlite_->CurrentRevision(), "CurrentRevision");
  }

  // A record to write, carrying a revision taken from the model's copy when there is one.
  EndpointRecord EndpointToWrite(RandomOps& rand) {
    EndpointRecord r = rand.Endpoint();
    if (auto stored = model_.GetEndpoint(r.name); stored.ok()) {
      r.revision = rand.RevisionFor(stored->revision);
    }
    return r;
  }
  DeploymentRecord DeploymentToWrite(RandomOps& rand) {
    DeploymentRecord r = rand.Deployment();
    if (auto stored = model_.GetDeployment(r.endpoint, r.name); stored.ok()) {
      r.revision = rand.RevisionFor(stored->revision);
    }
    return r;
  }

  TestTempDir dir_;
  static constexpr int64_t kRetention = 40;
  MemoryStateStore model_{kRetention};
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
  int stale_writes = 0;
  int batches_applied = 0;
  int batches_failed = 0;
  int feeds_read = 0;
  int feeds_out_of_range = 0;
  for (int step = 0; step < kSteps && !HasFailure(); ++step) {
    const std::string at = absl::StrCat("seed ", GetParam(), " step ", step);
    switch (rand.Int(20)) {
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
      case 15: {
        EndpointRecord r = EndpointToWrite(rand);
        absl::Status status = model_.UpdateEndpoint(r);
        ExpectSameStatus(status, sqlite_->UpdateEndpoint(r), at + " conditional update ep");
        stale_writes += absl::IsAborted(status);
        break;
      }
      case 16: {
        DeploymentRecord r = DeploymentToWrite(rand);
        absl::Status status = model_.UpdateDeployment(r);
        ExpectSameStatus(status, sqlite_->UpdateDeployment(r), at + " conditional update dep");
        stale_writes += absl::IsAborted(status);
        break;
      }
      case 17:
      case 18: {
        // Ops are drawn against the model as it is before the batch, so later ones may
        // collide with earlier ones: that is part of the test.
        WriteBatch batch;
        for (int i = 1 + rand.Int(4); i > 0; --i) {
          const WriteBatch::Action action = rand.Action();
          if (rand.Int(2) == 0) {
            EndpointRecord r = EndpointToWrite(rand);
            if (action == WriteBatch::Action::kCreate) batch.CreateEndpoint(r);
            if (action == WriteBatch::Action::kUpdate) batch.UpdateEndpoint(r);
            if (action == WriteBatch::Action::kPut) batch.PutEndpoint(r);
            // Deletes cascade: keep them rarer so that deployments accumulate.
            if (action == WriteBatch::Action::kDelete && rand.Int(3) == 0) {
              batch.DeleteEndpoint(r.name, r.revision);
            }
          } else {
            DeploymentRecord r = DeploymentToWrite(rand);
            if (action == WriteBatch::Action::kCreate) batch.CreateDeployment(r);
            if (action == WriteBatch::Action::kUpdate) batch.UpdateDeployment(r);
            if (action == WriteBatch::Action::kPut) batch.PutDeployment(r);
            if (action == WriteBatch::Action::kDelete) {
              batch.DeleteDeployment(r.endpoint, r.name, r.revision);
            }
          }
        }
        absl::StatusOr<int64_t> revision = model_.Commit(batch);
        ExpectSame(revision, sqlite_->Commit(batch), at + " commit");
        batches_applied += revision.ok() && batch.ops().size() > 1;
        batches_failed += !revision.ok();
        break;
      }
      case 19: {
        const int64_t current = *model_.CurrentRevision();
        const int64_t from = std::max<int64_t>(0, current - rand.Int(kRetention + 10));
        const size_t limit = 1 + rand.Int(kRetention + 10);
        absl::StatusOr<ChangeBatch> changes = model_.ChangesSince(from, limit);
        ExpectSame(changes, sqlite_->ChangesSince(from, limit), at + " changes since");
        feeds_read += changes.ok() && !changes->changes.empty();
        feeds_out_of_range += absl::IsOutOfRange(changes.status());
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
  EXPECT_GT(stale_writes, 5);
  EXPECT_GT(batches_applied, 5);
  EXPECT_GT(batches_failed, 5);
  EXPECT_GT(feeds_read, 10);
  EXPECT_GT(feeds_out_of_range, 3);
}

INSTANTIATE_TEST_SUITE_P(Seeds, StoreModelTest, ::testing::Values(1u, 2u, 3u, 20240601u));

}  // namespace
}  // namespace berth::state
