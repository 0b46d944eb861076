#include "cli/local_state.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "berth-local-state-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

LocalDeploymentRecord SampleDeployment() {
  LocalDeploymentRecord r;
  r.spec = {{"name", "blue"}, {"endpoint_name", "ep"}, {"instance_count", 1}};
  r.model_source = "/src/model";
  r.code_source = "/src/code";
  r.model_dir = "/state/ep/models/m/1/";
  r.process = {4321, 4321, 4320, 987654321ull};
  r.port = 40001;
  r.state = "Creating";
  r.warnings = {"w1"};
  r.readiness_path = "/ready";
  r.scoring_path = "/predict";
  r.swagger_path = "/swagger.json";
  r.startup_timeout_s = 30;
  r.started_at = "2026-01-02T03:04:05Z";
  r.created_at = "2026-01-02T03:04:00Z";
  r.updated_at = "2026-01-02T03:04:05Z";
  return r;
}

SystemTime At(const std::string& text) {
  std::tm tm{};
  ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

TEST(LocalStateRootTest, BerthLocalDirWins) {
  auto root = LocalStateRoot(
      FakeEnv({{"BERTH_LOCAL_DIR", "/x"}, {"XDG_STATE_HOME", "/s"}, {"HOME", "/h"}}));
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, fs::path("/x"));
}

TEST(LocalStateRootTest, ThenXdgStateHomeThenHome) {
  EXPECT_EQ(*LocalStateRoot(FakeEnv({{"XDG_STATE_HOME", "/s"}, {"HOME", "/h"}})),
            fs::path("/s/berth/local"));
  EXPECT_EQ(*LocalStateRoot(FakeEnv({{"HOME", "/h"}})), fs::path("/h/.local/state/berth/local"));
  EXPECT_EQ(*LocalStateRoot(FakeEnv({{"BERTH_LOCAL_DIR", ""}, {"HOME", "/h"}})),
            fs::path("/h/.local/state/berth/local"));
}

TEST(LocalStateRootTest, NothingSetIsAnError) {
  auto root = LocalStateRoot(FakeEnv({}));
  EXPECT_TRUE(absl::IsFailedPrecondition(root.status()));
  EXPECT_THAT(std::string(root.status().message()), HasSubstr("BERTH_LOCAL_DIR"));
}

TEST(FormatTimestampTest, Utc) {
  EXPECT_EQ(FormatTimestamp(At("2026-11-24T20:00:01Z")), "2026-11-24T20:00:01Z");
}

TEST(LocalRecordTest, DeploymentRoundTrips) {
  LocalDeploymentRecord r = SampleDeployment();
  auto back = DeploymentRecordFromJson(json::parse(ToJson(r).dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), ToJson(r));
  EXPECT_EQ(back->process, r.process);
  EXPECT_EQ(back->Name(), "blue");
}

TEST(LocalRecordTest, EndpointRoundTrips) {
  LocalEndpointRecord r{{{"name", "ep"}, {"auth_mode", "key"}}, {"w"}, "a", "b"};
  auto back = EndpointRecordFromJson(ToJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), ToJson(r));
}

TEST(LocalRecordTest, DamagedRecordsAreDataLoss) {
  json doc = ToJson(SampleDeployment());
  doc["pid"] = "not a number";
  EXPECT_TRUE(absl::IsDataLoss(DeploymentRecordFromJson(doc).status()));
  EXPECT_TRUE(absl::IsDataLoss(DeploymentRecordFromJson(json::object()).status()));
  EXPECT_TRUE(absl::IsDataLoss(EndpointRecordFromJson(json{{"spec", 3}}).status()));
}

TEST(EffectiveStateTest, DeadProcessIsFailedWithHowItEnded) {
  LocalDeploymentRecord r = SampleDeployment();
  r.state = "Succeeded";
  EffectiveState s = Effective(r, "ep", {false, "exited with code 3", false, At(r.started_at)});
  EXPECT_EQ(s.state, "Failed");
  EXPECT_THAT(s.reason, HasSubstr("pid 4321"));
  EXPECT_THAT(s.reason, HasSubstr("exited with code 3"));
  EXPECT_THAT(s.reason, HasSubstr("get-logs --local -e ep -n blue"));
}

TEST(EffectiveStateTest, RecordedFailureStays) {
  LocalDeploymentRecord r = SampleDeployment();
  r.state = "Failed";
  r.reason = "it broke";
  EffectiveState s = Effective(r, "ep", {true, "", true, At(r.started_at)});
  EXPECT_EQ(s.state, "Failed");
  EXPECT_EQ(s.reason, "it broke");
}

TEST(EffectiveStateTest, StartingBecomesSucceededWhenReadyAndFailedPastItsTime) {
  LocalDeploymentRecord r = SampleDeployment();
  SystemTime start = At(r.started_at);
  EXPECT_EQ(Effective(r, "ep", {true, "", true, start}).state, "Succeeded");
  EXPECT_EQ(Effective(r, "ep", {true, "", false, start + std::chrono::seconds(30)}).state,
            "Creating");
  EffectiveState late = Effective(r, "ep", {true, "", false, start + std::chrono::seconds(31)});
  EXPECT_EQ(late.state, "Failed");
  EXPECT_THAT(late.reason, HasSubstr("not ready after 30 s"));
}

TEST(LocalViewTest, DeploymentViewHasStateInstanceAndUris) {
  LocalDeploymentRecord r = SampleDeployment();
  r.state = "Succeeded";
  json view = DeploymentView(r, "ep", "/state/ep/logs/inference-server.log",
                             {true, "", false, At(r.started_at)});
  EXPECT_EQ(view["name"], "blue");
  EXPECT_EQ(view["instance_count"], 1);
  EXPECT_EQ(view["provisioning_state"], "Succeeded");
  EXPECT_EQ(view["scoring_uri"], "http://127.0.0.1:40001/predict");
  EXPECT_EQ(view["location"], "local");
  EXPECT_EQ(view["log_file"], "/state/ep/logs/inference-server.log");
  EXPECT_EQ(view["warnings"], json::array({"w1"}));
  ASSERT_EQ(view["instances"].size(), 1u);
  EXPECT_EQ(view["instances"][0]["state"], "Ready");
  EXPECT_EQ(view["instances"][0]["pid"], 4321);
  EXPECT_EQ(view["instances"][0]["port"], 40001);

  json dead = DeploymentView(r, "ep", "log", {false, "was killed by signal 9", false, {}});
  EXPECT_EQ(dead["provisioning_state"], "Failed");
  EXPECT_EQ(dead["instances"][0]["state"], "Exited");
}

TEST(LocalViewTest, EndpointViewWithAndWithoutDeployment) {
  LocalEndpointRecord e{
      {{"name", "ep"}, {"auth_mode", "key"}, {"traffic", json::object()}}, {"auth note"}, "c", "u"};
  json bare = EndpointView(e, nullptr);
  EXPECT_EQ(bare["provisioning_state"], "Succeeded");
  EXPECT_EQ(bare["scoring_uri"], "");
  EXPECT_EQ(bare["traffic"], json::object());
  EXPECT_EQ(bare["auth_mode"], "key");
  EXPECT_EQ(bare["location"], "local");

  LocalDeploymentRecord d = SampleDeployment();
  json served = EndpointView(e, &d);
  EXPECT_EQ(served["scoring_uri"], "http://127.0.0.1:40001/predict");
  EXPECT_EQ(served["openapi_uri"], "http://127.0.0.1:40001/swagger.json");
  EXPECT_EQ(served["traffic"], json({{"blue", 100}}));
}

TEST(LocalStoreTest, EndpointLifecycle) {
  TempDir tmp;
  LocalStore store(tmp.path() / "root");
  EXPECT_TRUE(absl::IsNotFound(store.ReadEndpoint("ep").status()));
  EXPECT_THAT(std::string(store.ReadEndpoint("ep").status().message()),
              HasSubstr("online-endpoint create --local"));
  EXPECT_TRUE(store.ListEndpoints()->empty());  // the root need not exist

  LocalEndpointRecord record{{{"name", "ep"}}, {}, "c", "u"};
  ASSERT_TRUE(store.CreateEndpoint("ep", record).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store.CreateEndpoint("ep", record)));
  ASSERT_TRUE(store.CreateEndpoint("another", record).ok());
  EXPECT_THAT(*store.ListEndpoints(), ElementsAre("another", "ep"));
  EXPECT_EQ(store.ReadEndpoint("ep")->created_at, "c");
  // Nothing is left beside the endpoints (staging folders are gone).
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(store.root())) ++entries;
  EXPECT_EQ(entries, 2);

  ASSERT_TRUE(store.RemoveEndpoint("ep").ok());
  EXPECT_FALSE(fs::exists(store.EndpointDir("ep")));
  EXPECT_THAT(*store.ListEndpoints(), ElementsAre("another"));
}

TEST(LocalStoreTest, DeploymentRecordAndFiles) {
  TempDir tmp;
  LocalStore store(tmp.path());
  ASSERT_TRUE(store.CreateEndpoint("ep", {{{"name", "ep"}}, {}, "", ""}).ok());
  EXPECT_FALSE(store.ReadDeployment("ep")->has_value());
  LocalDeploymentRecord r = SampleDeployment();
  ASSERT_TRUE(store.WriteDeployment("ep", r).ok());
  auto read = store.ReadDeployment("ep");
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->process, r.process);

  WriteFile(store.AppDir("ep") / "score.py", "x");
  WriteFile(store.ModelsDir("ep") / "m" / "1" / "model" / "w", "x");
  WriteFile(store.LogFile("ep"), "log");
  ASSERT_TRUE(store.RemoveDeployment("ep").ok());
  EXPECT_FALSE(store.ReadDeployment("ep")->has_value());
  EXPECT_FALSE(fs::exists(store.AppDir("ep")));
  EXPECT_FALSE(fs::exists(store.ModelsDir("ep")));
  EXPECT_FALSE(fs::exists(store.LogFile("ep")));
  EXPECT_TRUE(store.ReadEndpoint("ep").ok());
}

TEST(LocalStoreTest, DamagedDeploymentFileIsDataLoss) {
  TempDir tmp;
  LocalStore store(tmp.path());
  ASSERT_TRUE(store.CreateEndpoint("ep", {{{"name", "ep"}}, {}, "", ""}).ok());
  WriteFile(store.EndpointDir("ep") / "deployment.json", "{not json");
  EXPECT_TRUE(absl::IsDataLoss(store.ReadDeployment("ep").status()));
}

TEST(LocalStoreTest, LockNeedsTheEndpoint) {
  TempDir tmp;
  LocalStore store(tmp.path());
  EXPECT_TRUE(absl::IsNotFound(store.Lock("ep").status()));
  ASSERT_TRUE(store.CreateEndpoint("ep", {{{"name", "ep"}}, {}, "", ""}).ok());
  auto lock = store.Lock("ep");
  EXPECT_TRUE(lock.ok()) << lock.status();
}

TEST(CopyLocalTreeTest, CopiesFoldersWithoutCachesAndSingleFiles) {
  TempDir tmp;
  WriteFile(tmp.path() / "src" / "a.txt", "A");
  WriteFile(tmp.path() / "src" / "sub" / "b.txt", "B");
  WriteFile(tmp.path() / "src" / "__pycache__" / "x.pyc", "junk");
  WriteFile(tmp.path() / "src" / ".git" / "HEAD", "junk");
  ASSERT_TRUE(CopyLocalTree(tmp.path() / "src", tmp.path() / "out" / "dst").ok());
  EXPECT_EQ(ReadFile(tmp.path() / "out" / "dst" / "a.txt"), "A");
  EXPECT_EQ(ReadFile(tmp.path() / "out" / "dst" / "sub" / "b.txt"), "B");
  EXPECT_FALSE(fs::exists(tmp.path() / "out" / "dst" / "__pycache__"));
  EXPECT_FALSE(fs::exists(tmp.path() / "out" / "dst" / ".git"));

  ASSERT_TRUE(CopyLocalTree(tmp.path() / "src" / "a.txt", tmp.path() / "one" / "a.txt").ok());
  EXPECT_EQ(ReadFile(tmp.path() / "one" / "a.txt"), "A");
  EXPECT_TRUE(absl::IsAlreadyExists(
      CopyLocalTree(tmp.path() / "src" / "a.txt", tmp.path() / "one" / "a.txt")));
}

TEST(CopyLocalTreeTest, RefusesSymbolicLinks) {
  TempDir tmp;
  WriteFile(tmp.path() / "src" / "a.txt", "A");
  fs::create_symlink(tmp.path() / "src" / "a.txt", tmp.path() / "src" / "link");
  absl::Status status = CopyLocalTree(tmp.path() / "src", tmp.path() / "dst");
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("link"));
}

}  // namespace
}  // namespace berth::cli
