// The contract every StateStore implementation keeps, run against each of them, plus a
// randomized test that drives the memory and SQLite stores with the same operations and
// requires identical answers.

#include <algorithm>
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
      << "], created=" << r.created_at_ms << ", updated=" << r.updated_at_ms << "}";
}
void PrintTo(const DeploymentRecord& r, std::ostream* os) {
  *os << "DeploymentRecord{" << r.endpoint << "/" << r.name << ", spec=" << r.spec.dump()
      << ", state=" << static_cast<int>(r.state) << ", reason=" << r.reason
      << ", warnings=" << r.warnings.size() << ", gen=" << r.generation
      << ", created=" << r.created_at_ms << ", updated=" << r.updated_at_ms << "}";
}
void PrintTo(const ModelRecord& r, std::ostream* os) {
  *os << "ModelRecord{" << r.name << ":" << r.version << ", spec=" << r.spec.dump()
      << ", artifact=" << r.artifact.digest << "/" << r.artifact.base_name << "/"
      << r.artifact.is_file << ", created=" << r.created_at_ms << "}";
}

namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::string_literals;

using StoreFactory = std::function<std::unique_ptr<StateStore>(const std::filesystem::path&)>;

struct StoreKind {
  std::string name;
  StoreFactory make;
};

std::unique_ptr<StateStore> MakeMemory(const std::filesystem::path&) {
  return std::make_unique<MemoryStateStore>();
}

std::unique_ptr<StateStore> MakeSqlite(const std::filesystem::path& dir) {
  auto store = SqliteStateStore::Open(dir / "state.db");
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
    store_ = GetParam().make(dir_.path());
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
  EXPECT_EQ(*got, e);

  absl::Status again = store_->CreateEndpoint(Endpoint("ep"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("ep"));

  e.state = core::ProvisioningState::kFailed;
  e.reason = "port in use";
  e.spec["description"] = "changed";
  e.updated_at_ms += 5;
  ASSERT_TRUE(store_->UpdateEndpoint(e).ok());
  EXPECT_EQ(*store_->GetEndpoint("ep"), e);

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
  EXPECT_EQ(*got, d);

  absl::Status again = store_->CreateDeployment(Deployment("ep", "blue"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.message()), HasSubstr("blue"));

  d.generation = 2;
  d.state = core::ProvisioningState::kUpdating;
  d.warnings.clear();
  d.spec["instance_count"] = 3;
  ASSERT_TRUE(store_->UpdateDeployment(d).ok());
  EXPECT_EQ(*store_->GetDeployment("ep", "blue"), d);

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
    EXPECT_EQ(*got, e);
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
    EXPECT_EQ(*got, d);
    auto listed = store_->ListDeployments(d.endpoint);
    ASSERT_TRUE(listed.ok());
    EXPECT_THAT(*listed, ElementsAre(d));
  }
  EXPECT_THAT(*store_->ListEndpoints(), ElementsAre(e));

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

INSTANTIATE_TEST_SUITE_P(AllStores, StateStoreContractTest,
                         ::testing::Values(StoreKind{"Memory", MakeMemory},
                                           StoreKind{"Sqlite", MakeSqlite}),
                         [](const ::testing::TestParamInfo<StoreKind>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace berth::state
