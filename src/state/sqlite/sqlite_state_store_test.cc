// SQLite-specific behaviour: persistence across reopening, WAL, schema versioning, corrupt rows
// and files, and several connections on one file. The shared contract is in
// state/state_store_contract_test.cc.

#include "state/sqlite/sqlite_state_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/test_temp_dir.h"

namespace berth::state {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A plain second connection, for looking behind the store's back.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& file) {
    EXPECT_EQ(sqlite3_open(file.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }

  // The first column of the first row, "" when there is none.
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  void Exec(const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

EndpointRecord Endpoint(const std::string& name) {
  EndpointRecord r;
  r.name = name;
  r.spec = {{"name", name}};
  r.state = core::ProvisioningState::kSucceeded;
  r.primary_key_sealed = "sealed-primary";
  r.created_at_ms = 10;
  r.updated_at_ms = 20;
  return r;
}

DeploymentRecord Deployment(const std::string& endpoint, const std::string& name) {
  DeploymentRecord r;
  r.endpoint = endpoint;
  r.name = name;
  r.spec = {{"instance_count", 2}};
  r.warnings = {"w1"};
  r.generation = 7;
  return r;
}

ResourceRecord Resource(const std::string& kind, const std::string& key) {
  ResourceRecord r;
  r.kind = kind;
  r.key = key;
  r.doc = {{"done", 3}};
  r.created_at_ms = 30;
  r.updated_at_ms = 40;
  return r;
}

std::vector<ResourceWrite> PutAll(const std::vector<ResourceRecord>& records) {
  std::vector<ResourceWrite> writes;
  for (const ResourceRecord& r : records) writes.push_back({ResourceWrite::Action::kPut, r});
  return writes;
}

template <typename Record>
Record Revised(Record record, int64_t revision) {
  record.revision = revision;
  return record;
}

class SqliteStateStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStateStore> OpenStore() {
    auto store = SqliteStateStore::Open(file_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  TestTempDir dir_;
  std::filesystem::path file_ = dir_.path() / "state.db";
};

TEST_F(SqliteStateStoreTest, DataPersistsAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateEndpoint(Endpoint("ep")).ok());
    ASSERT_TRUE(store->CreateDeployment(Deployment("ep", "blue")).ok());
    ASSERT_TRUE(store->PutSetting("admin_token_sha256", "hash").ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetEndpoint("ep"), Revised(Endpoint("ep"), 1));
  EXPECT_THAT(*store->ListDeployments("ep"), ElementsAre(Revised(Deployment("ep", "blue"), 2)));
  EXPECT_EQ(*store->GetSetting("admin_token_sha256"), "hash");
  EXPECT_EQ(*store->CurrentRevision(), 2);
  EXPECT_EQ(store->ChangesSince(0, 10)->changes.size(), 2u);
}

TEST_F(SqliteStateStoreTest, ResourcesPersistAcrossReopen) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store
                    ->CommitResources(
                        PutAll({Resource(kResourceJob, "j1"), Resource(kResourceMiniBatch, "j1/0"),
                                Resource(kResourceMiniBatch, "j1/1")}))
                    .ok());
    ASSERT_TRUE(store->CommitResources(PutAll({Resource(kResourceMiniBatch, "j1/1")})).ok());
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->GetResource(kResourceJob, "j1"), Revised(Resource(kResourceJob, "j1"), 1));
  EXPECT_THAT(*store->ListResources(kResourceMiniBatch, "j1/"),
              ElementsAre(Revised(Resource(kResourceMiniBatch, "j1/0"), 1),
                          Revised(Resource(kResourceMiniBatch, "j1/1"), 2)));
  EXPECT_EQ(*store->CurrentRevision(), 0);  // resources are not in the change feed
}

TEST_F(SqliteStateStoreTest, UsesWriteAheadLogAndRecordsSchemaVersion) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  RawDb raw(file_);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("SELECT value FROM meta WHERE key = 'schema_version'"), "4");
  // The version is kept apart from the callers' settings.
  EXPECT_EQ(*store->GetSetting("schema_version"), std::nullopt);
  ASSERT_TRUE(store->CreateEndpoint(Endpoint("ep")).ok());
  EXPECT_TRUE(std::filesystem::exists(file_.string() + "-wal"));
}

TEST_F(SqliteStateStoreTest, RefusesNewerSchema) {
  ASSERT_NE(OpenStore(), nullptr);
  RawDb(file_).Exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
  auto store = SqliteStateStore::Open(file_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("schema version 99"));
}

// The schema as berth wrote it at versions 1 and 2, for databases made by hand as an older
// berth left them.
constexpr char kSchemaVersion1[] = R"sql(
CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE endpoints (
  name                 TEXT    NOT NULL PRIMARY KEY,
  spec                 TEXT    NOT NULL DEFAULT '{}',
  state                TEXT    NOT NULL,
  reason               TEXT    NOT NULL DEFAULT '',
  primary_key_sealed   TEXT    NOT NULL DEFAULT '',
  secondary_key_sealed TEXT    NOT NULL DEFAULT '',
  token_secret_sealed  TEXT    NOT NULL DEFAULT '',
  created_at_ms        INTEGER NOT NULL,
  updated_at_ms        INTEGER NOT NULL
);
CREATE TABLE deployments (
  endpoint      TEXT    NOT NULL REFERENCES endpoints(name) ON DELETE CASCADE,
  name          TEXT    NOT NULL,
  spec          TEXT    NOT NULL DEFAULT '{}',
  state         TEXT    NOT NULL,
  reason        TEXT    NOT NULL DEFAULT '',
  warnings      TEXT    NOT NULL DEFAULT '[]',
  generation    INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (endpoint, name)
);
CREATE TABLE settings (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
)sql";
constexpr char kSchemaVersion2[] = R"sql(
CREATE TABLE models (
  name               TEXT    NOT NULL,
  version            TEXT    NOT NULL,
  spec               TEXT    NOT NULL DEFAULT '{}',
  artifact_digest    TEXT    NOT NULL DEFAULT '',
  artifact_base_name TEXT    NOT NULL DEFAULT '',
  artifact_is_file   INTEGER NOT NULL DEFAULT 0,
  created_at_ms      INTEGER NOT NULL,
  PRIMARY KEY (name, version)
);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
)sql";
// Rows as the old berth wrote them: endpoints "ep" (two deployments) and "Other".
constexpr char kOldRows[] = R"sql(
INSERT INTO endpoints VALUES ('ep', '{"name":"ep"}', 'Succeeded', '', 'sealed-primary', '', '',
                              10, 20);
INSERT INTO endpoints VALUES ('Other', '{}', 'Failed', 'why', '', '', '', 1, 2);
INSERT INTO deployments VALUES ('ep', 'blue', '{"instance_count":2}', 'Creating', '', '["w1"]',
                                7, 0, 0);
INSERT INTO deployments VALUES ('ep', 'Green', '{}', 'Succeeded', '', '[]', 1, 0, 0);
INSERT INTO settings VALUES ('admin_token_sha256', 'hash');
)sql";

TEST_F(SqliteStateStoreTest, UpgradesVersionOneDatabaseKeepingItsData) {
  {
    RawDb raw(file_);
    raw.Exec(kSchemaVersion1);
    raw.Exec(kOldRows);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(file_).Query("SELECT value FROM meta WHERE key = 'schema_version'"), "4");
  EXPECT_EQ(Revised(*store->GetEndpoint("ep"), 0), Endpoint("ep"));
  EXPECT_EQ(Revised(*store->GetDeployment("ep", "blue"), 0), Deployment("ep", "blue"));
  ModelRecord model;
  model.name = "m";
  model.version = "1";
  model.artifact = {"sha256:" + std::string(64, 'b'), "model", false};
  ASSERT_TRUE(store->CreateModel(model).ok());
  EXPECT_EQ(*store->GetModel("m", "1"), model);
}

TEST_F(SqliteStateStoreTest, UpgradesVersionTwoDatabaseToRevisionsAndCaseInsensitiveNames) {
  {
    RawDb raw(file_);
    raw.Exec(kSchemaVersion1);
    raw.Exec(kSchemaVersion2);
    raw.Exec(kOldRows);
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(file_).Query("SELECT value FROM meta WHERE key = 'schema_version'"), "4");

  // Everything is kept, each record with its own revision; the old rows have no changes.
  auto endpoints = store->ListEndpoints();
  ASSERT_TRUE(endpoints.ok()) << endpoints.status();
  ASSERT_EQ(endpoints->size(), 2u);
  EXPECT_EQ((*endpoints)[0].name, "Other");
  EXPECT_EQ((*endpoints)[0].reason, "why");
  EXPECT_EQ(Revised((*endpoints)[1], 0), Endpoint("ep"));
  auto deployments = store->ListDeployments("ep");
  ASSERT_TRUE(deployments.ok()) << deployments.status();
  ASSERT_EQ(deployments->size(), 2u);
  EXPECT_EQ((*deployments)[0].name, "Green");
  EXPECT_EQ(Revised((*deployments)[1], 0), Deployment("ep", "blue"));
  std::vector<int64_t> revisions = {(*endpoints)[0].revision, (*endpoints)[1].revision,
                                    (*deployments)[0].revision, (*deployments)[1].revision};
  std::sort(revisions.begin(), revisions.end());
  EXPECT_THAT(revisions, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(*store->CurrentRevision(), 4);
  EXPECT_THAT(store->ChangesSince(4, 10)->changes, ::testing::IsEmpty());
  EXPECT_EQ(store->ChangesSince(0, 10).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*store->GetSetting("admin_token_sha256"), "hash");

  // Names are case-insensitive now, and the cascade still holds.
  EXPECT_EQ(store->GetDeployment("EP", "green")->name, "Green");
  EXPECT_EQ(store->CreateEndpoint(Endpoint("OTHER")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->CreateDeployment(Deployment("ep", "BLUE")).code(),
            absl::StatusCode::kAlreadyExists);
  DeploymentRecord blue = *store->GetDeployment("ep", "blue");
  ASSERT_TRUE(store->UpdateDeployment(blue).ok());
  EXPECT_EQ(store->GetDeployment("ep", "blue")->revision, 5);
  ASSERT_TRUE(store->DeleteEndpoint("EP").ok());
  EXPECT_EQ(RawDb(file_).Query("SELECT count(*) FROM deployments"), "0");
  EXPECT_EQ(store->ChangesSince(4, 10)->changes.size(), 4u);  // update, 2 deployments, endpoint
  EXPECT_EQ(RawDb(file_).Query("PRAGMA foreign_key_check"), "");
}

// A version 3 database is what this berth writes, less the resources table: migrations 0..3 are
// unchanged, so one made here and taken back to version 3 is one the previous berth left.
TEST_F(SqliteStateStoreTest, UpgradesVersionThreeDatabaseWithResources) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateEndpoint(Endpoint("ep")).ok());
    ASSERT_TRUE(store->CreateDeployment(Deployment("ep", "blue")).ok());
  }
  {
    RawDb raw(file_);
    raw.Exec("DROP TABLE resources");
    raw.Exec("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(file_).Query("SELECT value FROM meta WHERE key = 'schema_version'"), "4");
  EXPECT_EQ(*store->GetEndpoint("ep"), Revised(Endpoint("ep"), 1));
  EXPECT_EQ(*store->GetDeployment("ep", "blue"), Revised(Deployment("ep", "blue"), 2));
  EXPECT_EQ(store->ChangesSince(0, 10)->changes.size(), 2u);
  EXPECT_THAT(*store->ListResources(kResourceJob, ""), ::testing::IsEmpty());
  ASSERT_TRUE(store->CommitResources(PutAll({Resource(kResourceJob, "j1")})).ok());
  EXPECT_EQ(store->GetResource(kResourceJob, "j1")->revision, 1);
  ASSERT_TRUE(store->CreateEndpoint(Endpoint("two")).ok());
  EXPECT_EQ(store->GetEndpoint("two")->revision, 3);
}

TEST_F(SqliteStateStoreTest, UpgradeRefusesNamesThatDifferOnlyInCaseAndChangesNothing) {
  {
    RawDb raw(file_);
    raw.Exec(kSchemaVersion1);
    raw.Exec(kSchemaVersion2);
    raw.Exec(kOldRows);
    raw.Exec("INSERT INTO deployments VALUES ('ep', 'BLUE', '{}', 'Creating', '', '[]', 1, 0, 0)");
  }
  auto store = SqliteStateStore::Open(file_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("deployments 'BLUE' and 'blue' of endpoint 'ep'"));
  RawDb raw(file_);
  EXPECT_EQ(raw.Query("SELECT value FROM meta WHERE key = 'schema_version'"), "2");
  EXPECT_EQ(raw.Query("SELECT count(*) FROM deployments"), "3");

  raw.Exec("DELETE FROM deployments WHERE name = 'BLUE'");
  raw.Exec("INSERT INTO endpoints VALUES ('OTHER', '{}', 'Failed', '', '', '', '', 1, 2)");
  store = SqliteStateStore::Open(file_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("endpoints 'OTHER' and 'Other'"));
  raw.Exec("DELETE FROM endpoints WHERE name = 'OTHER'");
  EXPECT_NE(OpenStore(), nullptr);
}

TEST_F(SqliteStateStoreTest, UnreadableSchemaVersionIsDataLoss) {
  ASSERT_NE(OpenStore(), nullptr);
  RawDb(file_).Exec("UPDATE meta SET value = 'one' WHERE key = 'schema_version'");
  EXPECT_EQ(SqliteStateStore::Open(file_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SqliteStateStoreTest, CorruptRowsAreDataLossNamingTheRow) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(store->CreateDeployment(Deployment("ep", "blue")).ok());
  RawDb raw(file_);

  raw.Exec("UPDATE endpoints SET spec = '{not json' WHERE name = 'ep'");
  absl::Status got = store->GetEndpoint("ep").status();
  EXPECT_EQ(got.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(got.message()), HasSubstr("endpoint 'ep'"));
  EXPECT_EQ(store->ListEndpoints().status().code(), absl::StatusCode::kDataLoss);

  raw.Exec("UPDATE endpoints SET spec = '{}', state = 'Sleeping' WHERE name = 'ep'");
  EXPECT_EQ(store->GetEndpoint("ep").status().code(), absl::StatusCode::kDataLoss);

  raw.Exec("UPDATE deployments SET warnings = '{\"a\": 1}' WHERE name = 'blue'");
  got = store->GetDeployment("ep", "blue").status();
  EXPECT_EQ(got.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(got.message()), HasSubstr("deployment 'blue' of endpoint 'ep'"));
  raw.Exec("UPDATE deployments SET warnings = '[1]' WHERE name = 'blue'");
  EXPECT_EQ(store->ListDeployments("ep").status().code(), absl::StatusCode::kDataLoss);
  raw.Exec("UPDATE deployments SET warnings = '[]', spec = '' WHERE name = 'blue'");
  EXPECT_EQ(store->GetDeployment("ep", "blue").status().code(), absl::StatusCode::kDataLoss);

  ModelRecord model;
  model.name = "m";
  model.version = "1";
  ASSERT_TRUE(store->CreateModel(model).ok());
  raw.Exec("UPDATE models SET spec = '[' WHERE name = 'm'");
  got = store->GetModel("m", "1").status();
  EXPECT_EQ(got.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(got.message()), HasSubstr("model 'm' version '1'"));
  EXPECT_EQ(store->ListModels("").status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(store->CommitResources(PutAll({Resource(kResourceJob, "j1")})).ok());
  raw.Exec("UPDATE resources SET doc = '{' WHERE key = 'j1'");
  got = store->GetResource(kResourceJob, "j1").status();
  EXPECT_EQ(got.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(got.message()), HasSubstr("job 'j1'"));
  EXPECT_EQ(store->ListResources(kResourceJob, "j").status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SqliteStateStoreTest, FileThatIsNotADatabaseIsInternal) {
  std::ofstream(file_) << "this is not an sqlite database, just some text long enough to read";
  auto store = SqliteStateStore::Open(file_);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(file_.string()));
}

TEST_F(SqliteStateStoreTest, MissingFolderIsFailedPrecondition) {
  auto store = SqliteStateStore::Open(dir_.path() / "no" / "such" / "state.db");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SqliteStateStoreTest, TwoConnectionsOnOneFileShareWritesWithoutBusyErrors) {
  auto first = OpenStore();
  auto second = OpenStore();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  constexpr int kPerStore = 40;
  auto writer = [](SqliteStateStore* store, const std::string& prefix) {
    for (int i = 0; i < kPerStore; ++i) {
      const std::string ep = absl::StrCat(prefix, i);
      EXPECT_TRUE(store->CreateEndpoint(Endpoint(ep)).ok());
      EXPECT_TRUE(store->CreateDeployment(Deployment(ep, "blue")).ok());
    }
  };
  std::thread a(writer, first.get(), "a-");
  std::thread b(writer, second.get(), "b-");
  a.join();
  b.join();
  EXPECT_EQ(first->ListEndpoints()->size(), 2u * kPerStore);
  EXPECT_EQ(second->ListEndpoints()->size(), 2u * kPerStore);
  ASSERT_TRUE(second->DeleteEndpoint("a-0").ok());
  EXPECT_EQ(first->GetDeployment("a-0", "blue").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStateStoreTest, StaleWriteThroughAnotherStoreOnTheFileIsAborted) {
  auto first = OpenStore();
  auto second = OpenStore();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(first->CreateDeployment(Deployment("ep", "blue")).ok());

  EndpointRecord read_by_second = *second->GetEndpoint("ep");
  DeploymentRecord blue_by_second = *second->GetDeployment("EP", "BLUE");
  EndpointRecord read_by_first = *first->GetEndpoint("ep");
  read_by_first.reason = "first";
  ASSERT_TRUE(first->UpdateEndpoint(read_by_first).ok());
  DeploymentRecord blue_by_first = *first->GetDeployment("ep", "blue");
  ASSERT_TRUE(
      first->Commit(WriteBatch().DeleteDeployment("ep", "blue", blue_by_first.revision)).ok());

  read_by_second.reason = "second";
  EXPECT_EQ(second->UpdateEndpoint(read_by_second).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(second->UpdateDeployment(blue_by_second).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(second->GetEndpoint("ep")->reason, "first");
  // Both follow one feed.
  EXPECT_EQ(*second->CurrentRevision(), 4);
  EXPECT_EQ(second->ChangesSince(2, 10)->changes, first->ChangesSince(2, 10)->changes);
  EXPECT_EQ(second->ChangesSince(2, 10)->changes.size(), 2u);
  ASSERT_TRUE(second->CreateEndpoint(Endpoint("two")).ok());
  EXPECT_EQ(first->GetEndpoint("two")->revision, 5);
}

TEST_F(SqliteStateStoreTest, OneOfRacingUpdatesThroughSeveralStoresWins) {
  constexpr int kStores = 3;
  constexpr int kThreadsPerStore = 3;
  constexpr int kRounds = 10;
  std::vector<std::unique_ptr<SqliteStateStore>> stores;
  for (int i = 0; i < kStores; ++i) {
    stores.push_back(OpenStore());
    ASSERT_NE(stores.back(), nullptr);
  }
  ASSERT_TRUE(stores[0]->CreateEndpoint(Endpoint("ep")).ok());
  for (int round = 0; round < kRounds; ++round) {
    const EndpointRecord read = *stores[round % kStores]->GetEndpoint("ep");
    std::atomic<bool> go{false};
    std::atomic<int> wins{0};
    std::atomic<int> aborted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kStores * kThreadsPerStore; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        EndpointRecord mine = read;
        mine.reason = absl::StrCat("writer ", t);
        absl::Status status = stores[t % kStores]->UpdateEndpoint(mine);
        if (status.ok()) ++wins;
        if (status.code() == absl::StatusCode::kAborted) ++aborted;
      });
    }
    go = true;
    for (auto& thread : threads) thread.join();
    ASSERT_EQ(wins, 1) << "round " << round;
    ASSERT_EQ(aborted, kStores * kThreadsPerStore - 1) << "round " << round;
  }
  EXPECT_EQ(*stores[1]->CurrentRevision(), 1 + kRounds);
}

TEST_F(SqliteStateStoreTest, ChangeLogIsPrunedInTheFile) {
  auto store = SqliteStateStore::Open(file_, 2);
  ASSERT_TRUE(store.ok()) << store.status();
  for (const char* name : {"a", "b", "c", "d"}) {
    ASSERT_TRUE((*store)->CreateEndpoint(Endpoint(name)).ok());
  }
  RawDb raw(file_);
  EXPECT_EQ(raw.Query("SELECT group_concat(revision) FROM changes"), "3,4");
  EXPECT_EQ(raw.Query("SELECT pruned_through FROM store_revision"), "2");
}

}  // namespace
}  // namespace berth::state
