// SQLite-specific behaviour: persistence across reopening, WAL, schema versioning, corrupt rows
// and files, and several connections on one file. The shared contract is in
// state/state_store_contract_test.cc.

#include "state/sqlite/sqlite_state_store.h"

#include <sqlite3.h>

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
  EXPECT_EQ(*store->GetEndpoint("ep"), Endpoint("ep"));
  EXPECT_THAT(*store->ListDeployments("ep"), ElementsAre(Deployment("ep", "blue")));
  EXPECT_EQ(*store->GetSetting("admin_token_sha256"), "hash");
}

TEST_F(SqliteStateStoreTest, UsesWriteAheadLogAndRecordsSchemaVersion) {
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  RawDb raw(file_);
  EXPECT_EQ(raw.Query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Query("SELECT value FROM meta WHERE key = 'schema_version'"), "2");
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

TEST_F(SqliteStateStoreTest, UpgradesVersionOneDatabaseKeepingItsData) {
  {
    auto store = OpenStore();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateEndpoint(Endpoint("ep")).ok());
    ASSERT_TRUE(store->CreateDeployment(Deployment("ep", "blue")).ok());
  }
  // What a berth with schema version 1 left: no models table.
  {
    RawDb raw(file_);
    raw.Exec("DROP TABLE models");
    raw.Exec("UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  }
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(file_).Query("SELECT value FROM meta WHERE key = 'schema_version'"), "2");
  EXPECT_EQ(*store->GetEndpoint("ep"), Endpoint("ep"));
  EXPECT_THAT(*store->ListDeployments("ep"), ElementsAre(Deployment("ep", "blue")));
  ModelRecord model;
  model.name = "m";
  model.version = "1";
  model.artifact = {"sha256:" + std::string(64, 'b'), "model", false};
  ASSERT_TRUE(store->CreateModel(model).ok());
  EXPECT_EQ(*store->GetModel("m", "1"), model);
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

}  // namespace
}  // namespace berth::state
