// The contract every StateStore implementation keeps, run against each of them, plus a
// randomized test that drives the memory and SQLite stores with the same operations and
// requires identical answers.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"
#include "state/sqlite/sqlite_state_store.h"
#include "state/state_store.h"
#include "state/test_temp_dir.h"

namespace berth::state {

// Readable failure output for record comparisons.
void PrintTo(const EndpointRecord& r, std::ostream* os) {
  *os << "EndpointRecord{" << r.name << ", spec=" << r.spec.dump()
      << ", state=" << static_cast<int>(r.state) << ", reason=" << r.reason << ", keys=["
      << r.primary_key_sealed << "," << r.secondary_key_sealed << "," << r.token_secret_sealed
      << "], created=" << r.created_at_ms << ", updated=" << r.updated_at_ms
      << ", rev=" << r.revision << "}";
}
void PrintTo(const DeploymentRecord& r, std::ostream* os) {
  *os << "DeploymentRecord{" << r.endpoint << "/" << r.name << ", spec=" << r.spec.dump()
      << ", state=" << static_cast<int>(r.state) << ", reason=" << r.reason
      << ", warnings=" << r.warnings.size() << ", gen=" << r.generation
      << ", created=" << r.created_at_ms << ", updated=" << r.updated_at_ms
      << ", rev=" << r.revision << "}";
}
void PrintTo(const Change& c, std::ostream* os) {
  *os << "Change{" << c.revision << " " << (c.kind == RecordKind::kEndpoint ? "ep " : "dep ")
      << c.endpoint << "/" << c.deployment << (c.deleted ? " deleted" : "") << "}";
}
void PrintTo(const ModelRecord& r, std::ostream* os) {
  *os << "ModelRecord{" << r.name << ":" << r.version << ", spec=" << r.spec.dump()
      << ", artifact=" << r.artifact.digest << "/" << r.artifact.base_name << "/"
      << r.artifact.is_file << ", created=" << r.created_at_ms << "}";
}
void PrintTo(const ResourceRecord& r, std::ostream* os) {
  *os << "ResourceRecord{" << r.kind << " " << r.key << ", doc=" << r.doc.dump()
      << ", created=" << r.created_at_ms << ", updated=" << r.updated_at_ms
      << ", rev=" << r.revision << "}";
}

namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::string_literals;

using StoreFactory = std::function<std::unique_ptr<StateStore>(const std::filesystem::path&,
                                                               int64_t change_retention)>;

struct StoreKind {
  std::string name;
  StoreFactory make;
};
void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }

std::unique_ptr<StateStore> MakeMemory(const std::filesystem::path&, int64_t change_retention) {
  return std::make_unique<MemoryStateStore>(change_retention);
}

std::unique_ptr<StateStore> MakeSqlite(const std::filesystem::path& dir, int64_t change_retention) {
  auto store = SqliteStateStore::Open(dir / "state.db", change_retention);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

EndpointRecord Endpoint(const std::string& name) {
  EndpointRecord r;
  r.name = name;
  r.spec = {{"name", name}, {"auth_mode", "key"}, {"traffic", json::object()}};
  r.state = core::ProvisioningState::kSucceeded;
  r.primary_key_sealed = "pk-" + name;
  r.secondary_key_sealed = "sk-" + name;
  r.token_secret_sealed = "ts-" + name;
  r.created_at_ms = 1700000000000;
  r.updated_at_ms = 1700000000001;
  return r;
}

DeploymentRecord Deployment(const std::string& endpoint, const std::string& name) {
  DeploymentRecord r;
  r.endpoint = endpoint;
  r.name = name;
  r.spec = {{"name", name}, {"endpoint_name", endpoint}, {"instance_count", 1}};
  r.state = core::ProvisioningState::kCreating;
  r.warnings = {"image is not honoured"};
  r.generation = 1;
  r.created_at_ms = 1700000000100;
  r.updated_at_ms = 1700000000200;
  return r;
}

ModelRecord Model(const std::string& name, const std::string& version) {
  ModelRecord r;
  r.name = name;
  r.version = version;
  r.spec = {{"type", "custom_model"}, {"description", "weights"}, {"path", "./model"}};
  r.artifact = {"sha256:" + std::string(64, 'a'), "model", false};
  r.created_at_ms = 1700000000300;
  return r;
}

// "name:version" of each record, in order.
std::vector<std::string> Versions(const std::vector<ModelRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.name + ":" + r.version);
  return out;
}

// The record as written, for comparing with one read back: the store sets the revision.
template <typename Record>
Record Unrevised(Record record) {
  record.revision = 0;
  return record;
}
template <typename Record>
std::vector<Record> Unrevised(std::vector<Record> records) {
  for (auto& r : records) r.revision = 0;
  return records;
}

std::vector<std::string> Names(const std::vector<EndpointRecord>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) names.push_back(r.name);
  return names;
}
std::vector<std::string> Names(const std::vector<DeploymentRecord>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) names.push_back(r.name);
  return names;
}

class StateStoreContractTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    store_ = GetParam().make(dir_.path(), kDefaultChangeRetention);
    ASSERT_NE(store_, nullptr);
  }

  // Replaces the store with one keeping only `change_retention` changes.
  void RecreateStore(int64_t change_retention) {
    store_.reset();
    std::filesystem::remove_all(dir_.path() / "state.db");
    std::filesystem::remove_all(dir_.path() / "state.db-wal");
    std::filesystem::remove_all(dir_.path() / "state.db-shm");
    store_ = GetParam().make(dir_.path(), change_retention);
    ASSERT_NE(store_, nullptr);
  }

  TestTempDir dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_P(StateStoreContractTest, EndpointLifecycle) {
  EndpointRecord e = Endpoint("ep");
  ASSERT_TRUE(store_->CreateEndpoint(e).ok());
  auto got = store_->GetEndpoint("ep");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Unrevised(*got), e);

  absl::Status again = store_->CreateEndpoint(Endpoint("ep"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("ep"));

  e.state = core::ProvisioningState::kFailed;
  e.reason = "port in use";
  e.spec["description"] = "changed";
  e.updated_at_ms += 5;
  ASSERT_TRUE(store_->UpdateEndpoint(e).ok());
  EXPECT_EQ(Unrevised(*store_->GetEndpoint("ep")), e);

  ASSERT_TRUE(store_->DeleteEndpoint("ep").ok());
  EXPECT_EQ(store_->GetEndpoint("ep").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteEndpoint("ep").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store_->ListEndpoints(), IsEmpty());
}

TEST_P(StateStoreContractTest, MissingEndpointIsNotFound) {
  absl::StatusOr<EndpointRecord> got = store_->GetEndpoint("nope");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("nope"));
  EXPECT_EQ(store_->UpdateEndpoint(Endpoint("nope")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteEndpoint("nope").code(), absl::StatusCode::kNotFound);
  // A failed update creates nothing.
  EXPECT_THAT(*store_->ListEndpoints(), IsEmpty());
}

TEST_P(StateStoreContractTest, ListEndpointsIsSortedByName) {
  for (const char* name : {"m", "b", "Z", "a-1", "a", "zz", "\xc3\xa9t\xc3\xa9"}) {
    ASSERT_TRUE(store_->CreateEndpoint(Endpoint(name)).ok()) << name;
  }
  // Byte-wise order: upper case before lower case, UTF-8 after ASCII.
  EXPECT_THAT(Names(*store_->ListEndpoints()),
              ElementsAre("Z", "a", "a-1", "b", "m", "zz", "\xc3\xa9t\xc3\xa9"));
}

TEST_P(StateStoreContractTest, DeploymentLifecycle) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  DeploymentRecord d = Deployment("ep", "blue");
  ASSERT_TRUE(store_->CreateDeployment(d).ok());
  auto got = store_->GetDeployment("ep", "blue");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Unrevised(*got), d);

  absl::Status again = store_->CreateDeployment(Deployment("ep", "blue"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("blue"));

  d.generation = 2;
  d.state = core::ProvisioningState::kUpdating;
  d.warnings.clear();
  d.spec["instance_count"] = 3;
  ASSERT_TRUE(store_->UpdateDeployment(d).ok());
  EXPECT_EQ(Unrevised(*store_->GetDeployment("ep", "blue")), d);

  ASSERT_TRUE(store_->DeleteDeployment("ep", "blue").ok());
  EXPECT_EQ(store_->GetDeployment("ep", "blue").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteDeployment("ep", "blue").code(), absl::StatusCode::kNotFound);
  // The endpoint stays.
  EXPECT_TRUE(store_->GetEndpoint("ep").ok());
}

TEST_P(StateStoreContractTest, DeploymentNotFoundCases) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  EXPECT_EQ(store_->GetDeployment("ep", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDeployment("other", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->UpdateDeployment(Deployment("ep", "x")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteDeployment("ep", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteDeployment("other", "x").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store_->ListDeployments("ep"), IsEmpty());
}

TEST_P(StateStoreContractTest, WritingDeploymentOfMissingEndpointNamesTheEndpoint) {
  absl::Status created = store_->CreateDeployment(Deployment("ghost", "blue"));
  EXPECT_EQ(created.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(created.message()), HasSubstr("endpoint 'ghost'"));
  absl::Status updated = store_->UpdateDeployment(Deployment("ghost", "blue"));
  EXPECT_EQ(updated.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(updated.message()), HasSubstr("endpoint 'ghost'"));
  EXPECT_THAT(*store_->ListDeployments("ghost"), IsEmpty());
}

TEST_P(StateStoreContractTest, ListDeploymentsIsPerEndpointAndSorted) {
  // "a" is a prefix of "ab": their deployments must not mix.
  for (const char* ep : {"a", "ab", "b"}) ASSERT_TRUE(store_->CreateEndpoint(Endpoint(ep)).ok());
  for (const char* name : {"green", "blue", "Canary", "blue-2"}) {
    ASSERT_TRUE(store_->CreateDeployment(Deployment("a", name)).ok());
  }
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ab", "only")).ok());
  EXPECT_THAT(Names(*store_->ListDeployments("a")),
              ElementsAre("Canary", "blue", "blue-2", "green"));
  EXPECT_THAT(Names(*store_->ListDeployments("ab")), ElementsAre("only"));
  EXPECT_THAT(*store_->ListDeployments("b"), IsEmpty());
  EXPECT_THAT(*store_->ListDeployments("unknown"), IsEmpty());
  auto listed = store_->ListDeployments("a");
  ASSERT_TRUE(listed.ok());
  for (const auto& d : *listed) EXPECT_EQ(d.endpoint, "a");
}

TEST_P(StateStoreContractTest, DeletingEndpointDeletesItsDeployments) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("a")).ok());
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("b")).ok());
  for (const char* name : {"x", "y", "z"}) {
    ASSERT_TRUE(store_->CreateDeployment(Deployment("a", name)).ok());
  }
  ASSERT_TRUE(store_->CreateDeployment(Deployment("b", "x")).ok());

  ASSERT_TRUE(store_->DeleteEndpoint("a").ok());
  EXPECT_THAT(*store_->ListDeployments("a"), IsEmpty());
  EXPECT_EQ(store_->GetDeployment("a", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Names(*store_->ListDeployments("b")), ElementsAre("x"));

  // A new endpoint of the same name starts without deployments.
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("a")).ok());
  EXPECT_THAT(*store_->ListDeployments("a"), IsEmpty());
  ASSERT_TRUE(store_->CreateDeployment(Deployment("a", "x")).ok());
}

TEST_P(StateStoreContractTest, ModelLifecycle) {
  ModelRecord m = Model("m", "1");
  m.artifact.is_file = true;
  m.artifact.base_name = "model.pkl";
  ASSERT_TRUE(store_->CreateModel(m).ok());
  auto got = store_->GetModel("m", "1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, m);

  absl::Status again = store_->CreateModel(Model("m", "1"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("model 'm' version '1'"));
  EXPECT_EQ(*store_->GetModel("m", "1"), m);  // the failed create changed nothing

  ASSERT_TRUE(store_->CreateModel(Model("m", "2")).ok());
  ASSERT_TRUE(store_->DeleteModel("m", "1").ok());
  absl::Status missing = store_->GetModel("m", "1").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("model 'm' version '1'"));
  EXPECT_EQ(store_->DeleteModel("m", "1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteModel("other", "2").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Versions(*store_->ListModels("")), ElementsAre("m:2"));
  // Models are apart from endpoints: names may coincide.
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("m")).ok());
  ASSERT_TRUE(store_->DeleteEndpoint("m").ok());
  EXPECT_THAT(Versions(*store_->ListModels("m")), ElementsAre("m:2"));
}

TEST_P(StateStoreContractTest, ListModelsOrdersVersionsNumericallyThenByBytes) {
  for (const char* version :
       {"10", "9", "a", "1", "B", "01", "1.0", "2", "100000000000000000000"}) {
    ASSERT_TRUE(store_->CreateModel(Model("a", version)).ok()) << version;
  }
  // "a" is a prefix of "ab": their versions must not mix.
  for (const char* name : {"ab", "B", "Z"}) ASSERT_TRUE(store_->CreateModel(Model(name, "3")).ok());
  EXPECT_THAT(Versions(*store_->ListModels("a")),
              ElementsAre("a:01", "a:1", "a:2", "a:9", "a:10", "a:100000000000000000000", "a:1.0",
                          "a:B", "a:a"));
  EXPECT_THAT(Versions(*store_->ListModels("ab")), ElementsAre("ab:3"));
  EXPECT_THAT(*store_->ListModels("none"), IsEmpty());
  std::vector<std::string> all = Versions(*store_->ListModels(""));
  ASSERT_EQ(all.size(), 12u);
  EXPECT_EQ(all[0], "B:3");
  EXPECT_EQ(all[1], "Z:3");
  EXPECT_EQ(all[2], "a:01");
  EXPECT_EQ(all[11], "ab:3");
}

TEST_P(StateStoreContractTest, ModelFieldsRoundTripAndUnstorableSpecIsRefused) {
  ModelRecord m = Model("r\xc3\xa9", "v.1-x_2");
  m.spec = json::parse(R"({"type": "mlflow_model", "tags": {"k": "\u4e2d", "e": ""},
                           "properties": {"a": "b"}, "description": "it's \"quoted\"\n"})");
  m.created_at_ms = std::numeric_limits<int64_t>::min();
  ASSERT_TRUE(store_->CreateModel(m).ok());
  EXPECT_EQ(*store_->GetModel(m.name, m.version), m);
  EXPECT_THAT(*store_->ListModels(m.name), ElementsAre(m));

  ModelRecord bad = Model("bad", "1");
  bad.spec["description"] = std::string("\xff not utf-8");
  absl::Status status = store_->CreateModel(bad);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("model 'bad' version '1'"));
  EXPECT_THAT(*store_->ListModels("bad"), IsEmpty());
}

TEST_P(StateStoreContractTest, Settings) {
  EXPECT_EQ(*store_->GetSetting("admin_token_sha256"), std::nullopt);
  ASSERT_TRUE(store_->PutSetting("admin_token_sha256", "abc").ok());
  EXPECT_EQ(*store_->GetSetting("admin_token_sha256"), "abc");
  ASSERT_TRUE(store_->PutSetting("admin_token_sha256", "def").ok());
  EXPECT_EQ(*store_->GetSetting("admin_token_sha256"), "def");
  ASSERT_TRUE(store_->PutSetting("empty", "").ok());
  EXPECT_EQ(*store_->GetSetting("empty"), "");
  EXPECT_EQ(*store_->GetSetting("admin_token_sha256"), "def");
  EXPECT_EQ(*store_->GetSetting("other"), std::nullopt);
}

TEST_P(StateStoreContractTest, EveryFieldRoundTripsExactly) {
  EndpointRecord e;
  e.name = "round-trip";
  e.spec = json::parse(R"({
    "name": "round-trip", "description": "quotes \" and 'apostrophes'; DROP TABLE endpoints;--",
    "tags": {"unicode": "\u00e9\u4e2d\ud83d\ude00", "empty": ""},
    "traffic": {"blue": 90, "green": 10}, "mirror_traffic": {},
    "numbers": [0, -1, 9223372036854775807, -9223372036854775808, 18446744073709551615,
                1.5, -0.25, 1e-300, 3.141592653589793],
    "flags": [true, false, null], "nested": {"a": {"b": {"c": []}}}})");
  e.reason = "line1\nline2\twith tab and NUL:\0end"s;
  e.primary_key_sealed = "sealed\0with\0nuls"s;
  e.secondary_key_sealed = "";
  e.token_secret_sealed = std::string(4096, 'k');
  e.created_at_ms = std::numeric_limits<int64_t>::min();
  e.updated_at_ms = std::numeric_limits<int64_t>::max();
  ASSERT_TRUE(store_->CreateEndpoint(e).ok());

  const core::ProvisioningState states[] = {
      core::ProvisioningState::kCreating, core::ProvisioningState::kUpdating,
      core::ProvisioningState::kSucceeded, core::ProvisioningState::kFailed,
      core::ProvisioningState::kDeleting};
  for (core::ProvisioningState state : states) {
    e.state = state;
    ASSERT_TRUE(store_->UpdateEndpoint(e).ok());
    auto got = store_->GetEndpoint(e.name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(Unrevised(*got), e);
    EXPECT_EQ(got->spec.dump(), e.spec.dump());
  }

  DeploymentRecord d;
  d.endpoint = e.name;
  d.name = "d\xc3\xa9ploy";
  d.spec = json::array({1, "two", json::object({{"three", 3.0}})});  // any JSON value
  d.reason = "OOM";
  d.warnings = {"first", "", "with \"quotes\" and \\ backslash", "\xe2\x9c\x93 unicode"};
  d.generation = std::numeric_limits<int64_t>::max();
  d.created_at_ms = -1;
  d.updated_at_ms = 0;
  for (core::ProvisioningState state : states) {
    d.state = state;
    if (state == states[0]) {
      ASSERT_TRUE(store_->CreateDeployment(d).ok());
    } else {
      ASSERT_TRUE(store_->UpdateDeployment(d).ok());
    }
    auto got = store_->GetDeployment(d.endpoint, d.name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(Unrevised(*got), d);
    auto listed = store_->ListDeployments(d.endpoint);
    ASSERT_TRUE(listed.ok());
    EXPECT_THAT(Unrevised(*listed), ElementsAre(d));
  }
  EXPECT_THAT(Unrevised(*store_->ListEndpoints()), ElementsAre(e));

  ASSERT_TRUE(store_->PutSetting("k\0ey"s, "v\0al"s).ok());
  EXPECT_EQ(*store_->GetSetting("k\0ey"s), "v\0al"s);
  EXPECT_EQ(*store_->GetSetting("k"), std::nullopt);
}

TEST_P(StateStoreContractTest, UnstorableJsonIsRejectedAndNothingChanges) {
  EndpointRecord e = Endpoint("ep");
  e.spec["description"] = std::string("\xff\xfe not utf-8");
  absl::Status status = store_->CreateEndpoint(e);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("endpoint 'ep'"));
  EXPECT_THAT(*store_->ListEndpoints(), IsEmpty());

  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  DeploymentRecord d = Deployment("ep", "blue");
  d.warnings.push_back("\xc3");
  EXPECT_EQ(store_->CreateDeployment(d).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(*store_->ListDeployments("ep"), IsEmpty());
}

TEST_P(StateStoreContractTest, NonFiniteNumbersReadBackAsNull) {
  EndpointRecord e = Endpoint("ep");
  e.spec["weight"] = std::numeric_limits<double>::quiet_NaN();
  ASSERT_TRUE(store_->CreateEndpoint(e).ok());
  EXPECT_TRUE(store_->GetEndpoint("ep")->spec["weight"].is_null());
}

TEST_P(StateStoreContractTest, ConcurrentWritersLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string ep = absl::StrCat("ep-", t, "-", i);
        EXPECT_TRUE(store_->CreateEndpoint(Endpoint(ep)).ok());
        EXPECT_TRUE(store_->CreateDeployment(Deployment(ep, "blue")).ok());
        EXPECT_TRUE(store_->CreateDeployment(Deployment(ep, "green")).ok());
        EndpointRecord updated = Endpoint(ep);
        updated.reason = "updated";
        EXPECT_TRUE(store_->UpdateEndpoint(updated).ok());
        EXPECT_TRUE(store_->PutSetting(absl::StrCat("last-", t), ep).ok());
        EXPECT_TRUE(store_->ListEndpoints().ok());
        // Everyone races for the same name: exactly one creation wins per name.
        absl::Status shared = store_->CreateEndpoint(Endpoint(absl::StrCat("shared-", i)));
        EXPECT_TRUE(shared.ok() || shared.code() == absl::StatusCode::kAlreadyExists) << shared;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  auto all = store_->ListEndpoints();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), kThreads * kPerThread + kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(*store_->GetSetting(absl::StrCat("last-", t)),
              absl::StrCat("ep-", t, "-", kPerThread - 1));
    for (int i = 0; i < kPerThread; ++i) {
      const std::string ep = absl::StrCat("ep-", t, "-", i);
      EXPECT_EQ(store_->GetEndpoint(ep)->reason, "updated");
      EXPECT_THAT(Names(*store_->ListDeployments(ep)), ElementsAre("blue", "green"));
    }
  }
}

// ---- Revisions, conditional writes, batches, the change feed, case-insensitive names ----

Change EndpointChange(int64_t revision, const std::string& endpoint, bool deleted = false) {
  return Change{revision, RecordKind::kEndpoint, endpoint, "", deleted};
}
Change DeploymentChange(int64_t revision, const std::string& endpoint, const std::string& name,
                        bool deleted = false) {
  return Change{revision, RecordKind::kDeployment, endpoint, name, deleted};
}

TEST_P(StateStoreContractTest, EveryWriteTakesTheNextRevision) {
  EXPECT_EQ(*store_->CurrentRevision(), 0);
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  EXPECT_EQ(store_->GetEndpoint("ep")->revision, 1);
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "blue")).ok());
  EXPECT_EQ(store_->GetDeployment("ep", "blue")->revision, 2);
  ASSERT_TRUE(store_->UpdateEndpoint(Endpoint("ep")).ok());
  EXPECT_EQ(store_->GetEndpoint("ep")->revision, 3);
  EXPECT_EQ(store_->GetDeployment("ep", "blue")->revision, 2);  // untouched
  EXPECT_EQ(*store_->CurrentRevision(), 3);

  // Failed writes, models and settings take none.
  EXPECT_FALSE(store_->CreateEndpoint(Endpoint("ep")).ok());
  EXPECT_FALSE(store_->UpdateDeployment(Deployment("ep", "none")).ok());
  ASSERT_TRUE(store_->CreateModel(Model("m", "1")).ok());
  ASSERT_TRUE(store_->PutSetting("k", "v").ok());
  EXPECT_EQ(*store_->CurrentRevision(), 3);

  // A record that carries some revision is stored with its new one.
  DeploymentRecord d = *store_->GetDeployment("ep", "blue");
  ASSERT_TRUE(store_->UpdateDeployment(d).ok());
  EXPECT_EQ(store_->GetDeployment("ep", "blue")->revision, 4);
  ASSERT_TRUE(store_->DeleteEndpoint("ep").ok());  // the deployment (5), then the endpoint (6)
  EXPECT_EQ(*store_->CurrentRevision(), 6);
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  EXPECT_EQ(store_->GetEndpoint("ep")->revision, 7);
}

TEST_P(StateStoreContractTest, StaleEndpointUpdateIsAbortedAndChangesNothing) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  EndpointRecord mine = *store_->GetEndpoint("ep");
  EndpointRecord theirs = *store_->GetEndpoint("ep");
  theirs.reason = "theirs";
  ASSERT_TRUE(store_->UpdateEndpoint(theirs).ok());  // read-modify-write: the revision matches
  const EndpointRecord stored = *store_->GetEndpoint("ep");
  EXPECT_EQ(stored.reason, "theirs");
  EXPECT_GT(stored.revision, mine.revision);

  mine.reason = "mine";
  absl::Status stale = store_->UpdateEndpoint(mine);
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_THAT(std::string(stale.message()),
              HasSubstr("stale write: endpoint 'ep' was changed by another writer"));
  EXPECT_EQ(*store_->GetEndpoint("ep"), stored);
  EXPECT_EQ(*store_->CurrentRevision(), stored.revision);

  // Read again, the write applies; revision 0 applies whatever is stored.
  mine = *store_->GetEndpoint("ep");
  mine.reason = "mine";
  ASSERT_TRUE(store_->UpdateEndpoint(mine).ok());
  EXPECT_EQ(store_->GetEndpoint("ep")->reason, "mine");
  EndpointRecord blind = Endpoint("ep");
  blind.reason = "blind";
  ASSERT_EQ(blind.revision, 0);
  ASSERT_TRUE(store_->UpdateEndpoint(blind).ok());
  EXPECT_EQ(store_->GetEndpoint("ep")->reason, "blind");
}

TEST_P(StateStoreContractTest, StaleDeploymentUpdateIsAbortedAndChangesNothing) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "blue")).ok());
  DeploymentRecord mine = *store_->GetDeployment("ep", "blue");
  DeploymentRecord theirs = mine;
  theirs.generation = 2;
  ASSERT_TRUE(store_->UpdateDeployment(theirs).ok());
  const DeploymentRecord stored = *store_->GetDeployment("ep", "blue");

  mine.generation = 3;
  absl::Status stale = store_->UpdateDeployment(mine);
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_THAT(std::string(stale.message()),
              HasSubstr("deployment 'blue' of endpoint 'ep' was changed by another writer"));
  EXPECT_EQ(*store_->GetDeployment("ep", "blue"), stored);
  // A change to the endpoint does not make its deployments stale.
  ASSERT_TRUE(store_->UpdateEndpoint(*store_->GetEndpoint("ep")).ok());
  DeploymentRecord fresh = stored;
  fresh.generation = 3;
  EXPECT_TRUE(store_->UpdateDeployment(fresh).ok());
}

TEST_P(StateStoreContractTest, ConditionalDeletesCheckTheRevision) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "blue")).ok());
  const int64_t endpoint_revision = store_->GetEndpoint("ep")->revision;
  const int64_t deployment_revision = store_->GetDeployment("ep", "blue")->revision;

  EXPECT_EQ(store_->Commit(WriteBatch().DeleteDeployment("ep", "blue", deployment_revision + 1))
                .status()
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store_->Commit(WriteBatch().DeleteEndpoint("ep", deployment_revision)).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(store_->GetDeployment("ep", "blue").ok());

  ASSERT_TRUE(
      store_->Commit(WriteBatch().DeleteDeployment("ep", "blue", deployment_revision)).ok());
  EXPECT_EQ(store_->GetDeployment("ep", "blue").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Commit(WriteBatch().DeleteEndpoint("ep", endpoint_revision)).ok());
  EXPECT_EQ(store_->GetEndpoint("ep").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StateStoreContractTest, BatchAppliesInOrderWithOneRevisionPerWrite) {
  WriteBatch batch;
  batch.CreateEndpoint(Endpoint("ep"))
      .CreateDeployment(Deployment("ep", "blue"))  // sees the endpoint created just before
      .CreateDeployment(Deployment("ep", "green"))
      .PutEndpoint(Endpoint("other"));
  absl::StatusOr<int64_t> revision = store_->Commit(batch);
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_EQ(*revision, 4);
  EXPECT_EQ(*store_->CurrentRevision(), 4);
  EXPECT_EQ(store_->GetEndpoint("ep")->revision, 1);
  EXPECT_EQ(store_->GetDeployment("ep", "blue")->revision, 2);
  EXPECT_EQ(store_->GetDeployment("ep", "green")->revision, 3);
  EXPECT_EQ(store_->GetEndpoint("other")->revision, 4);

  // Put replaces when present; an empty batch changes nothing.
  EndpointRecord replaced = Endpoint("other");
  replaced.reason = "put";
  ASSERT_TRUE(store_->Commit(WriteBatch().PutEndpoint(replaced)).ok());
  EXPECT_EQ(store_->GetEndpoint("other")->reason, "put");
  EXPECT_EQ(*store_->Commit(WriteBatch()), 5);
  EXPECT_EQ(*store_->CurrentRevision(), 5);
}

// Each batch's third write fails; the first two must not apply.
TEST_P(StateStoreContractTest, FailedBatchAppliesNothing) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "blue")).ok());
  const EndpointRecord ep = *store_->GetEndpoint("ep");
  const DeploymentRecord blue = *store_->GetDeployment("ep", "blue");
  const int64_t revision = *store_->CurrentRevision();
  EndpointRecord changed_ep = ep;
  changed_ep.reason = "changed";
  DeploymentRecord changed_blue = blue;
  changed_blue.generation = 9;
  DeploymentRecord stale_blue = blue;
  stale_blue.revision = blue.revision + 100;
  DeploymentRecord stale_put = Deployment("ep", "green");
  stale_put.revision = 77;

  struct Case {
    std::string name;
    WriteBatch batch;
    absl::StatusCode code;
  };
  std::vector<Case> cases;
  cases.push_back({"exists",
                   WriteBatch()
                       .CreateEndpoint(Endpoint("new"))
                       .CreateDeployment(Deployment("new", "x"))
                       .CreateEndpoint(Endpoint("ep")),
                   absl::StatusCode::kAlreadyExists});
  cases.push_back({"stale",
                   WriteBatch()
                       .UpdateEndpoint(changed_ep)
                       .CreateDeployment(Deployment("ep", "x"))
                       .UpdateDeployment(stale_blue),
                   absl::StatusCode::kAborted});
  cases.push_back({"missing",
                   WriteBatch()
                       .UpdateDeployment(changed_blue)
                       .DeleteDeployment("ep", "blue")
                       .UpdateEndpoint(Endpoint("absent")),
                   absl::StatusCode::kNotFound});
  cases.push_back({"cascade then missing",
                   WriteBatch()
                       .DeleteEndpoint("ep")
                       .CreateEndpoint(Endpoint("ep"))
                       .CreateDeployment(Deployment("absent", "x")),
                   absl::StatusCode::kNotFound});
  cases.push_back({"put carrying a revision of nothing",
                   WriteBatch()
                       .PutDeployment(changed_blue)
                       .CreateDeployment(Deployment("ep", "new"))
                       .PutDeployment(stale_put),
                   absl::StatusCode::kNotFound});
  EndpointRecord unstorable = Endpoint("bad");
  unstorable.spec["description"] = std::string("\xff");
  cases.push_back({"unstorable",
                   WriteBatch()
                       .CreateEndpoint(Endpoint("new"))
                       .DeleteEndpoint("ep", ep.revision)
                       .CreateEndpoint(unstorable),
                   absl::StatusCode::kInvalidArgument});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(store_->Commit(c.batch).status().code(), c.code);
    EXPECT_EQ(*store_->CurrentRevision(), revision);
    EXPECT_EQ(*store_->GetEndpoint("ep"), ep);
    EXPECT_THAT(*store_->ListDeployments("ep"), ElementsAre(blue));
    EXPECT_THAT(Names(*store_->ListEndpoints()), ElementsAre("ep"));
    EXPECT_THAT(store_->ChangesSince(revision, 10)->changes, IsEmpty());
  }
}

TEST_P(StateStoreContractTest, ChangeFeedListsChangesInRevisionOrder) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("a")).ok());              // 1
  ASSERT_TRUE(store_->CreateDeployment(Deployment("a", "blue")).ok());  // 2
  ASSERT_TRUE(store_->UpdateEndpoint(Endpoint("a")).ok());              // 3
  ASSERT_TRUE(store_->DeleteDeployment("a", "blue").ok());              // 4
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("b")).ok());              // 5
  ASSERT_TRUE(store_->CreateModel(Model("m", "1")).ok());               // no change

  absl::StatusOr<ChangeBatch> all = store_->ChangesSince(0, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->current_revision, 5);
  EXPECT_THAT(
      all->changes,
      ElementsAre(EndpointChange(1, "a"), DeploymentChange(2, "a", "blue"), EndpointChange(3, "a"),
                  DeploymentChange(4, "a", "blue", true), EndpointChange(5, "b")));
  EXPECT_THAT(store_->ChangesSince(3, 100)->changes,
              ElementsAre(DeploymentChange(4, "a", "blue", true), EndpointChange(5, "b")));
  EXPECT_THAT(store_->ChangesSince(5, 100)->changes, IsEmpty());

  // Paging: a full batch means "ask again from its last revision".
  std::vector<Change> paged;
  int64_t from = 0;
  while (true) {
    absl::StatusOr<ChangeBatch> page = store_->ChangesSince(from, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->changes.size(), 2u);
    paged.insert(paged.end(), page->changes.begin(), page->changes.end());
    if (page->changes.size() < 2) break;
    from = page->changes.back().revision;
  }
  EXPECT_EQ(paged, all->changes);
}

TEST_P(StateStoreContractTest, EndpointDeleteListsEachDeploymentThenTheEndpoint) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("other")).ok());
  for (const char* name : {"x", "Y", "z"}) {
    ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", name)).ok());
  }
  ASSERT_TRUE(store_->CreateDeployment(Deployment("other", "x")).ok());
  const int64_t before = *store_->CurrentRevision();
  ASSERT_TRUE(store_->DeleteEndpoint("EP").ok());
  EXPECT_THAT(store_->ChangesSince(before, 100)->changes,
              ElementsAre(DeploymentChange(before + 1, "ep", "Y", true),
                          DeploymentChange(before + 2, "ep", "x", true),
                          DeploymentChange(before + 3, "ep", "z", true),
                          EndpointChange(before + 4, "ep", true)));
  EXPECT_EQ(*store_->CurrentRevision(), before + 4);
}

TEST_P(StateStoreContractTest, ChangesNoLongerKeptAreOutOfRange) {
  ASSERT_NO_FATAL_FAILURE(RecreateStore(3));
  for (const char* name : {"a", "b", "c", "d", "e"}) {
    ASSERT_TRUE(store_->CreateEndpoint(Endpoint(name)).ok());
  }
  // Revisions 3..5 are kept: a caller at 2 or later is served, one further back reloads.
  absl::StatusOr<ChangeBatch> kept = store_->ChangesSince(2, 10);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT(kept->changes,
              ElementsAre(EndpointChange(3, "c"), EndpointChange(4, "d"), EndpointChange(5, "e")));
  for (int64_t gone : {0, 1}) {
    absl::Status status = store_->ChangesSince(gone, 10).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange) << gone;
    EXPECT_THAT(std::string(status.message()), HasSubstr("reload everything"));
  }
  EXPECT_EQ(store_->ChangesSince(6, 10).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(store_->ChangesSince(5, 10)->changes, IsEmpty());
  EXPECT_EQ(store_->ChangesSince(5, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->ChangesSince(-1, 10).status().code(), absl::StatusCode::kInvalidArgument);

  // One endpoint delete with deployments makes several changes at once.
  ASSERT_TRUE(store_->CreateDeployment(Deployment("a", "x")).ok());  // 6
  ASSERT_TRUE(store_->CreateDeployment(Deployment("a", "y")).ok());  // 7
  ASSERT_TRUE(store_->DeleteEndpoint("a").ok());                     // 8, 9, 10
  EXPECT_EQ(store_->ChangesSince(6, 10).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(store_->ChangesSince(7, 10)->changes,
              ElementsAre(DeploymentChange(8, "a", "x", true), DeploymentChange(9, "a", "y", true),
                          EndpointChange(10, "a", true)));
}

TEST_P(StateStoreContractTest, OneOfRacingConditionalUpdatesWins) {
  constexpr int kWriters = 8;
  constexpr int kRounds = 20;
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("ep")).ok());
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "blue")).ok());
  for (int round = 0; round < kRounds; ++round) {
    const EndpointRecord endpoint = *store_->GetEndpoint("ep");
    const DeploymentRecord deployment = *store_->GetDeployment("ep", "blue");
    std::atomic<bool> go{false};
    std::atomic<int> endpoint_wins{0};
    std::atomic<int> deployment_wins{0};
    std::vector<absl::Status> endpoint_results(kWriters), deployment_results(kWriters);
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
      threads.emplace_back([&, w] {
        while (!go.load()) std::this_thread::yield();  // start together
        EndpointRecord e = endpoint;
        e.reason = absl::StrCat("writer ", w);
        endpoint_results[w] = store_->UpdateEndpoint(e);
        DeploymentRecord d = deployment;
        d.reason = absl::StrCat("writer ", w);
        deployment_results[w] = store_->UpdateDeployment(d);
      });
    }
    go = true;
    for (auto& thread : threads) thread.join();
    std::string endpoint_winner, deployment_winner;
    for (int w = 0; w < kWriters; ++w) {
      if (endpoint_results[w].ok()) {
        ++endpoint_wins;
        endpoint_winner = absl::StrCat("writer ", w);
      } else {
        EXPECT_EQ(endpoint_results[w].code(), absl::StatusCode::kAborted) << endpoint_results[w];
      }
      if (deployment_results[w].ok()) {
        ++deployment_wins;
        deployment_winner = absl::StrCat("writer ", w);
      } else {
        EXPECT_EQ(deployment_results[w].code(), absl::StatusCode::kAborted)
            << deployment_results[w];
      }
    }
    ASSERT_EQ(endpoint_wins, 1) << "round " << round;
    ASSERT_EQ(deployment_wins, 1) << "round " << round;
    EXPECT_EQ(store_->GetEndpoint("ep")->reason, endpoint_winner);
    EXPECT_EQ(store_->GetDeployment("ep", "blue")->reason, deployment_winner);
  }
  EXPECT_EQ(*store_->CurrentRevision(), 2 + 2 * kRounds);
}

TEST_P(StateStoreContractTest, NamesAreUniqueAndFoundRegardlessOfCase) {
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("Ep")).ok());
  absl::Status again = store_->CreateEndpoint(Endpoint("EP"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(store_->GetEndpoint("eP")->name, "Ep");

  // The deployment names its endpoint as the endpoint spells it.
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "Green")).ok());
  EXPECT_EQ(store_->CreateDeployment(Deployment("EP", "green")).code(),
            absl::StatusCode::kAlreadyExists);
  absl::StatusOr<DeploymentRecord> green = store_->GetDeployment("EP", "GREEN");
  ASSERT_TRUE(green.ok()) << green.status();
  EXPECT_EQ(green->name, "Green");
  EXPECT_EQ(green->endpoint, "Ep");
  EXPECT_THAT(Names(*store_->ListDeployments("ep")), ElementsAre("Green"));

  // Updates find the record in any case and keep the stored spelling.
  const int64_t before = *store_->CurrentRevision();
  EndpointRecord e = Endpoint("EP");
  e.reason = "updated";
  ASSERT_TRUE(store_->UpdateEndpoint(e).ok());
  EXPECT_EQ(store_->GetEndpoint("ep")->name, "Ep");
  EXPECT_EQ(store_->GetEndpoint("ep")->reason, "updated");
  DeploymentRecord d = *green;
  d.endpoint = "eP";
  d.name = "gReEn";
  ASSERT_TRUE(store_->UpdateDeployment(d).ok());
  EXPECT_EQ(store_->GetDeployment("ep", "green")->name, "Green");
  EXPECT_EQ(store_->GetDeployment("ep", "green")->endpoint, "Ep");
  EXPECT_THAT(
      store_->ChangesSince(before, 10)->changes,
      ElementsAre(EndpointChange(before + 1, "Ep"), DeploymentChange(before + 2, "Ep", "Green")));

  // ASCII only: other letters keep their case.
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("\xc3\xa9t\xc3\xa9")).ok());
  ASSERT_TRUE(store_->CreateEndpoint(Endpoint("\xc3\x89t\xc3\xa9")).ok());
  // Models are case-sensitive.
  ASSERT_TRUE(store_->CreateModel(Model("m", "1")).ok());
  ASSERT_TRUE(store_->CreateModel(Model("M", "1")).ok());

  ASSERT_TRUE(store_->DeleteDeployment("EP", "GREEN").ok());
  EXPECT_THAT(*store_->ListDeployments("Ep"), IsEmpty());
  ASSERT_TRUE(store_->CreateDeployment(Deployment("ep", "green")).ok());
  ASSERT_TRUE(store_->DeleteEndpoint("ep").ok());
  EXPECT_EQ(store_->GetDeployment("Ep", "green").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Names(*store_->ListEndpoints()),
              ElementsAre("\xc3\x89t\xc3\xa9", "\xc3\xa9t\xc3\xa9"));
}

// ---- Resources ----

ResourceRecord Resource(const std::string& kind, const std::string& key) {
  ResourceRecord r;
  r.kind = kind;
  r.key = key;
  r.doc = {{"key", key}, {"progress", {{"done", 0}, {"of", 12}}}};
  r.created_at_ms = 1700000000400;
  r.updated_at_ms = 1700000000500;
  return r;
}

ResourceWrite Write(ResourceWrite::Action action, ResourceRecord record) {
  return ResourceWrite{action, std::move(record)};
}
ResourceWrite Create(ResourceRecord record) {
  return Write(ResourceWrite::Action::kCreate, std::move(record));
}
ResourceWrite Update(ResourceRecord record) {
  return Write(ResourceWrite::Action::kUpdate, std::move(record));
}
ResourceWrite Put(ResourceRecord record) {
  return Write(ResourceWrite::Action::kPut, std::move(record));
}
ResourceWrite Delete(const std::string& kind, const std::string& key, int64_t revision = 0) {
  ResourceRecord record;
  record.kind = kind;
  record.key = key;
  record.revision = revision;
  return Write(ResourceWrite::Action::kDelete, std::move(record));
}

template <typename Record>
Record Revised(Record record, int64_t revision) {
  record.revision = revision;
  return record;
}

std::vector<std::string> Keys(const std::vector<ResourceRecord>& records) {
  std::vector<std::string> keys;
  for (const auto& r : records) keys.push_back(r.key);
  return keys;
}

TEST_P(StateStoreContractTest, ResourceLifecycle) {
  ResourceRecord job = Resource(kResourceJob, "j1");
  job.doc["numbers"] = {1, -2, 3.5, 9007199254740993};
  job.doc["text"] = "caf\xc3\xa9";
  absl::StatusOr<std::vector<ResourceRecord>> written = store_->CommitResources({Create(job)});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(*written, ElementsAre(Revised(job, 1)));
  EXPECT_EQ(*store_->GetResource(kResourceJob, "j1"), Revised(job, 1));

  absl::Status again = store_->CommitResources({Create(Resource(kResourceJob, "j1"))}).status();
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_THAT(std::string(again.message()), HasSubstr("job 'j1'"));

  // An update carrying the stored revision applies, keeping the stored creation time.
  ResourceRecord changed = Revised(job, 1);
  changed.doc["state"] = "Running";
  changed.created_at_ms = 5;
  changed.updated_at_ms = 1700000000900;
  written = store_->CommitResources({Update(changed)});
  ASSERT_TRUE(written.ok()) << written.status();
  ResourceRecord expected = changed;
  expected.created_at_ms = job.created_at_ms;
  expected.revision = 2;
  EXPECT_THAT(*written, ElementsAre(expected));
  EXPECT_EQ(*store_->GetResource(kResourceJob, "j1"), expected);

  // The same update again is stale: someone (here, we) wrote since revision 1.
  ResourceRecord stale = changed;
  stale.doc["state"] = "Failed";
  absl::Status aborted = store_->CommitResources({Update(stale)}).status();
  EXPECT_EQ(aborted.code(), absl::StatusCode::kAborted) << aborted;
  EXPECT_THAT(std::string(aborted.message()), HasSubstr("job 'j1'"));
  EXPECT_EQ(*store_->GetResource(kResourceJob, "j1"), expected);
  // Revision 0 writes unconditionally.
  ASSERT_TRUE(store_->CommitResources({Update(Revised(stale, 0))}).ok());
  EXPECT_EQ(store_->GetResource(kResourceJob, "j1")->doc["state"], "Failed");
  EXPECT_EQ(store_->GetResource(kResourceJob, "j1")->revision, 3);

  // A delete returns the record as it was.
  const ResourceRecord before_delete = *store_->GetResource(kResourceJob, "j1");
  written = store_->CommitResources({Delete(kResourceJob, "j1")});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(*written, ElementsAre(before_delete));
  absl::Status missing = store_->GetResource(kResourceJob, "j1").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("job 'j1'"));
  EXPECT_EQ(store_->CommitResources({Delete(kResourceJob, "j1")}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->CommitResources({Update(Resource(kResourceJob, "j1"))}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(*store_->ListResources(kResourceJob, ""), IsEmpty());

  // Created again, it starts over at revision 1.
  written = store_->CommitResources({Create(Resource(kResourceJob, "j1"))});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->front().revision, 1);
}

TEST_P(StateStoreContractTest, ResourcePutCreatesOrReplacesKeepingCreationTime) {
  ResourceRecord data = Resource(kResourceData, "images:1");
  absl::StatusOr<std::vector<ResourceRecord>> written = store_->CommitResources({Put(data)});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(*written, ElementsAre(Revised(data, 1)));

  ResourceRecord replacement = Resource(kResourceData, "images:1");
  replacement.doc = {{"path", "azureml://datastores/x"}};
  replacement.created_at_ms = 99;
  replacement.updated_at_ms = 1700000009999;
  written = store_->CommitResources({Put(replacement)});
  ASSERT_TRUE(written.ok()) << written.status();
  ResourceRecord expected = Revised(replacement, 2);
  expected.created_at_ms = data.created_at_ms;
  EXPECT_THAT(*written, ElementsAre(expected));
  EXPECT_EQ(*store_->GetResource(kResourceData, "images:1"), expected);

  // A put carrying a revision is an update: checked, and NOT_FOUND when there is nothing.
  EXPECT_EQ(store_->CommitResources({Put(Revised(replacement, 1))}).status().code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE(store_->CommitResources({Put(Revised(replacement, 2))}).ok());
  EXPECT_EQ(store_->GetResource(kResourceData, "images:1")->revision, 3);
  EXPECT_EQ(
      store_->CommitResources({Put(Revised(Resource(kResourceData, "other"), 4))}).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetResource(kResourceData, "other").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StateStoreContractTest, ConditionalResourceDeleteChecksTheRevision) {
  ASSERT_TRUE(store_->CommitResources({Create(Resource(kResourceCompute, "cpu"))}).ok());
  ASSERT_TRUE(store_->CommitResources({Put(Resource(kResourceCompute, "cpu"))}).ok());
  absl::Status stale = store_->CommitResources({Delete(kResourceCompute, "cpu", 1)}).status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_EQ(store_->GetResource(kResourceCompute, "cpu")->revision, 2);
  ASSERT_TRUE(store_->CommitResources({Delete(kResourceCompute, "cpu", 2)}).ok());
  EXPECT_EQ(store_->GetResource(kResourceCompute, "cpu").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StateStoreContractTest, EveryResourceWriteBumpsItsRevision) {
  ResourceRecord progress = Resource(kResourceMiniBatch, "j1/0");
  for (int i = 1; i <= 10; ++i) {
    progress.doc["progress"]["done"] = i;
    absl::StatusOr<std::vector<ResourceRecord>> written =
        store_->CommitResources({Put(Revised(progress, 0))});
    ASSERT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(written->front().revision, i);
  }
  EXPECT_EQ(store_->GetResource(kResourceMiniBatch, "j1/0")->doc["progress"]["done"], 10);
  EXPECT_EQ(store_->GetResource(kResourceMiniBatch, "j1/0")->revision, 10);
  // Each record counts its own writes; endpoints' store-wide revision is untouched.
  ASSERT_TRUE(store_->CommitResources({Put(Resource(kResourceMiniBatch, "j1/1"))}).ok());
  EXPECT_EQ(store_->GetResource(kResourceMiniBatch, "j1/1")->revision, 1);
  EXPECT_EQ(*store_->CurrentRevision(), 0);
  EXPECT_THAT(store_->ChangesSince(0, 10)->changes, IsEmpty());
}

TEST_P(StateStoreContractTest, ListResourcesByPrefixIsSortedByteWise) {
  std::vector<ResourceWrite> writes;
  for (const char* key : {"j1/2", "j1/10", "j1/1", "j10/1", "j2/1", "j1", "i9/1"}) {
    writes.push_back(Create(Resource(kResourceMiniBatch, key)));
  }
  writes.push_back(Create(Resource(kResourceJob, "j1/3")));  // another kind
  ASSERT_TRUE(store_->CommitResources(writes).ok());
  EXPECT_THAT(Keys(*store_->ListResources(kResourceMiniBatch, "j1/")),
              ElementsAre("j1/1", "j1/10", "j1/2"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceMiniBatch, "j1")),
              ElementsAre("j1", "j1/1", "j1/10", "j1/2", "j10/1"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceMiniBatch, "")),
              ElementsAre("i9/1", "j1", "j1/1", "j1/10", "j1/2", "j10/1", "j2/1"));
  EXPECT_THAT(*store_->ListResources(kResourceMiniBatch, "j3"), IsEmpty());
  EXPECT_THAT(*store_->ListResources(kResourceMiniBatch, "j1/10/"), IsEmpty());
  EXPECT_THAT(*store_->ListResources(kResourceData, ""), IsEmpty());
  std::vector<ResourceRecord> listed = *store_->ListResources(kResourceMiniBatch, "j1/1");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0], *store_->GetResource(kResourceMiniBatch, "j1/1"));
}

TEST_P(StateStoreContractTest, ResourcePrefixesAreLiteralBytesAndCaseSensitive) {
  const std::vector<std::string> keys = {
      "Job/a", "job/a",       "job/b", "jobX", "a%b/1", "a%bc",     "a_b/1",   "axb/1",   "aXb/1",
      "z\xff", "z\xff\xff/1", "z\xfe", "{",    "\xff",  "\xff\xff", "nul\0a"s, "nul\0b"s, "nulc"};
  std::vector<ResourceWrite> writes;
  for (const std::string& key : keys) {
    ResourceRecord record = Resource(kResourceJob, key);
    record.doc = json::object();  // some keys are not UTF-8, so no JSON string
    writes.push_back(Create(std::move(record)));
  }
  absl::Status created = store_->CommitResources(writes).status();
  ASSERT_TRUE(created.ok()) << created;

  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "job/")), ElementsAre("job/a", "job/b"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "Job/")), ElementsAre("Job/a"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "JOB/")), IsEmpty());
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "a%")), ElementsAre("a%b/1", "a%bc"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "a_")), ElementsAre("a_b/1"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "%")), IsEmpty());
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "z\xff")),
              ElementsAre("z\xff", "z\xff\xff/1"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "\xff")), ElementsAre("\xff", "\xff\xff"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "nul\0"s)),
              ElementsAre("nul\0a"s, "nul\0b"s));
  EXPECT_EQ(store_->GetResource(kResourceJob, "nul\0b"s)->key, "nul\0b"s);
  // Byte-wise order: upper case before lower, bytes >= 0x80 last.
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(Keys(*store_->ListResources(kResourceJob, "")), sorted);

  absl::StatusOr<int64_t> deleted = store_->DeleteResources(kResourceJob, "a_");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(*store_->DeleteResources(kResourceJob, "job/"), 2);
  EXPECT_EQ(*store_->DeleteResources(kResourceJob, "\xff"), 2);
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "a")),
              ElementsAre("a%b/1", "a%bc", "aXb/1", "axb/1"));
  EXPECT_THAT(Keys(*store_->ListResources(kResourceJob, "J")), ElementsAre("Job/a"));
  EXPECT_EQ(store_->ListResources(kResourceJob, "")->size(), keys.size() - 5);
}

TEST_P(StateStoreContractTest, DeleteResourcesByPrefix) {
  std::vector<ResourceWrite> writes;
  for (const char* key : {"j1/0", "j1/1", "j1/2", "j10/0", "j1"}) {
    writes.push_back(Create(Resource(kResourceMiniBatch, key)));
  }
  writes.push_back(Create(Resource(kResourceJob, "j1/0")));
  ASSERT_TRUE(store_->CommitResources(writes).ok());

  absl::StatusOr<int64_t> refused = store_->DeleteResources(kResourceMiniBatch, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_EQ(store_->ListResources(kResourceMiniBatch, "")->size(), 5u);

  absl::StatusOr<int64_t> deleted = store_->DeleteResources(kResourceMiniBatch, "j1/");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 3);
  EXPECT_THAT(Keys(*store_->ListResources(kResourceMiniBatch, "")), ElementsAre("j1", "j10/0"));
  EXPECT_TRUE(store_->GetResource(kResourceJob, "j1/0").ok());
  EXPECT_EQ(*store_->DeleteResources(kResourceMiniBatch, "j1/"), 0);
  EXPECT_EQ(*store_->DeleteResources(kResourceData, "j"), 0);
}

TEST_P(StateStoreContractTest, ResourcesOfDifferentKindsDoNotMix) {
  ResourceRecord job = Resource(kResourceJob, "shared");
  job.doc = {{"is", "job"}};
  ResourceRecord data = Resource(kResourceData, "shared");
  data.doc = {{"is", "data"}};
  ASSERT_TRUE(store_->CommitResources({Create(job), Create(data), Put(data)}).ok());
  EXPECT_EQ(*store_->GetResource(kResourceJob, "shared"), Revised(job, 1));
  EXPECT_EQ(store_->GetResource(kResourceData, "shared")->revision, 2);
  EXPECT_EQ(store_->GetResource(kResourceCompute, "shared").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(*store_->ListResources(kResourceJob, ""), ElementsAre(Revised(job, 1)));
  ASSERT_TRUE(store_->CommitResources({Delete(kResourceData, "shared")}).ok());
  EXPECT_EQ(*store_->GetResource(kResourceJob, "shared"), Revised(job, 1));
  EXPECT_EQ(*store_->DeleteResources(kResourceData, "s"), 0);
  EXPECT_EQ(*store_->DeleteResources(kResourceJob, "s"), 1);
}

TEST_P(StateStoreContractTest, ResourceBatchAppliesInOrder) {
  ResourceRecord job = Resource(kResourceJob, "j1");
  ResourceRecord running = Revised(job, 1);
  running.doc["state"] = "Running";
  absl::StatusOr<std::vector<ResourceRecord>> written = store_->CommitResources(
      {Create(job), Update(running), Create(Resource(kResourceMiniBatch, "j1/0")),
       Delete(kResourceMiniBatch, "j1/0", 1), Put(Resource(kResourceMiniBatch, "j1/0"))});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_THAT(*written, ElementsAre(Revised(job, 1), Revised(running, 2),
                                    Revised(Resource(kResourceMiniBatch, "j1/0"), 1),
                                    Revised(Resource(kResourceMiniBatch, "j1/0"), 1),
                                    Revised(Resource(kResourceMiniBatch, "j1/0"), 1)));
  EXPECT_EQ(*store_->GetResource(kResourceJob, "j1"), Revised(running, 2));
  EXPECT_EQ(store_->GetResource(kResourceMiniBatch, "j1/0")->revision, 1);
  EXPECT_THAT(*store_->CommitResources({}), IsEmpty());
}

// Each batch's third write fails; the first two must not apply.
TEST_P(StateStoreContractTest, FailedResourceBatchChangesNothing) {
  ASSERT_TRUE(store_
                  ->CommitResources({Create(Resource(kResourceJob, "j1")),
                                     Create(Resource(kResourceMiniBatch, "j1/0"))})
                  .ok());
  const std::vector<ResourceRecord> jobs = *store_->ListResources(kResourceJob, "");
  const std::vector<ResourceRecord> mini_batches = *store_->ListResources(kResourceMiniBatch, "");
  ResourceRecord changed = jobs[0];
  changed.doc["state"] = "Completed";
  ResourceRecord unstorable = Resource(kResourceJob, "bad");
  unstorable.doc["text"] = std::string("\xff");

  struct Case {
    std::string name;
    std::vector<ResourceWrite> writes;
    absl::StatusCode code;
  };
  std::vector<Case> cases;
  cases.push_back({"exists",
                   {Update(changed), Create(Resource(kResourceJob, "j2")),
                    Create(Resource(kResourceMiniBatch, "j1/0"))},
                   absl::StatusCode::kAlreadyExists});
  cases.push_back({"stale",
                   {Delete(kResourceMiniBatch, "j1/0"), Put(Resource(kResourceJob, "j2")),
                    Update(Revised(changed, 7))},
                   absl::StatusCode::kAborted});
  cases.push_back({"missing",
                   {Put(changed), Create(Resource(kResourceMiniBatch, "j1/1")),
                    Update(Resource(kResourceJob, "absent"))},
                   absl::StatusCode::kNotFound});
  cases.push_back(
      {"deleted earlier in the batch",
       {Delete(kResourceJob, "j1"), Put(Resource(kResourceJob, "j2")), Delete(kResourceJob, "j1")},
       absl::StatusCode::kNotFound});
  cases.push_back({"stale delete",
                   {Put(Resource(kResourceMiniBatch, "j1/0")), Create(Resource(kResourceJob, "j2")),
                    Delete(kResourceJob, "j1", 5)},
                   absl::StatusCode::kAborted});
  cases.push_back({"unstorable",
                   {Put(changed), Delete(kResourceMiniBatch, "j1/0", 1), Create(unstorable)},
                   absl::StatusCode::kInvalidArgument});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(store_->CommitResources(c.writes).status().code(), c.code);
    EXPECT_EQ(*store_->ListResources(kResourceJob, ""), jobs);
    EXPECT_EQ(*store_->ListResources(kResourceMiniBatch, ""), mini_batches);
  }
}

TEST_P(StateStoreContractTest, NonFiniteNumbersInResourcesReadBackAsNull) {
  ResourceRecord job = Resource(kResourceJob, "j1");
  job.doc["loss"] = std::numeric_limits<double>::quiet_NaN();
  absl::StatusOr<std::vector<ResourceRecord>> written = store_->CommitResources({Create(job)});
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(written->front().doc["loss"].is_null());
  EXPECT_EQ(*store_->GetResource(kResourceJob, "j1"), written->front());
}

TEST_P(StateStoreContractTest, ConcurrentResourceWritersLoseNothing) {
  constexpr int kThreads = 4;
  constexpr int kWritesPerThread = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesPerThread; ++i) {
        // Each thread its own record, and all of them one shared record.
        EXPECT_TRUE(store_
                        ->CommitResources({Put(Resource(kResourceMiniBatch, absl::StrCat("j/", t))),
                                           Put(Resource(kResourceJob, "j"))})
                        .ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(store_->GetResource(kResourceJob, "j")->revision, kThreads * kWritesPerThread);
  std::vector<ResourceRecord> mini_batches = *store_->ListResources(kResourceMiniBatch, "j/");
  ASSERT_EQ(mini_batches.size(), static_cast<size_t>(kThreads));
  for (const ResourceRecord& r : mini_batches) EXPECT_EQ(r.revision, kWritesPerThread);
}

INSTANTIATE_TEST_SUITE_P(AllStores, StateStoreContractTest,
                         ::testing::Values(StoreKind{"Memory", MakeMemory},
                                           StoreKind{"Sqlite", MakeSqlite}),
                         [](const ::testing::TestParamInfo<StoreKind>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace berth::state
