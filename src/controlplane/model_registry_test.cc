// ModelRegistry over a MemoryStateStore and a real ArtifactStore in a temporary folder.

#include "controlplane/model_registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "auth/secrets.h"
#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"

namespace berth::controlplane {
namespace {

namespace fs = std::filesystem;
using core::ProvisioningState;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// A tar holding one file, as the CLI would upload a folder.
std::string TarOf(const std::string& name, const std::string& contents) {
  std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(),
                                                                 archive_write_free);
  archive_write_set_format_pax_restricted(writer.get());
  std::string out(64 * 1024, '\0');
  size_t used = 0;
  EXPECT_EQ(archive_write_open_memory(writer.get(), out.data(), out.size(), &used), ARCHIVE_OK);
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                      archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(contents.size()));
  EXPECT_EQ(archive_write_header(writer.get(), entry.get()), ARCHIVE_OK);
  archive_write_data(writer.get(), contents.data(), contents.size());
  archive_write_close(writer.get());
  out.resize(used);
  return out;
}

class ModelRegistryTest : public ::testing::Test {
 protected:
  ModelRegistryTest() {
    std::string pattern = ::testing::TempDir() + "berth_models_XXXXXX";
    EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    artifacts_ = std::make_unique<ArtifactStore>(dir_);
    registry_ = std::make_unique<ModelRegistry>(store_, *artifacts_, clock_);
  }
  ~ModelRegistryTest() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Uploads a folder named "model" holding w.txt with `weights`.
  core::ArtifactRef Upload(const std::string& weights) {
    std::string tar = TarOf("w.txt", weights);
    std::string digest = "sha256:" + auth::Sha256Hex(tar);
    EXPECT_TRUE(artifacts_->Put(digest, tar).ok());
    return {digest, "model", false};
  }

  core::ModelAsset Asset(const std::string& name, const std::string& version = "") {
    core::ModelAsset asset;
    asset.name = name;
    asset.version = version;
    asset.path = "./model";
    asset.artifact = Upload("weights of " + name + ":" + version);
    return asset;
  }

  std::string Create(const std::string& name, const std::string& version = "") {
    clock_.Advance(std::chrono::seconds(1));
    auto record = registry_->Create(Asset(name, version));
    EXPECT_TRUE(record.ok()) << record.status();
    return record.ok() ? record->version : "";
  }

  void Deploy(const std::string& endpoint, const std::string& name, const std::string& model,
              ProvisioningState state = ProvisioningState::kSucceeded) {
    if (!store_.GetEndpoint(endpoint).ok()) {
      state::EndpointRecord e;
      e.name = endpoint;
      ASSERT_TRUE(store_.CreateEndpoint(e).ok());
    }
    state::DeploymentRecord d;
    d.endpoint = endpoint;
    d.name = name;
    d.spec = {{"name", name}, {"endpoint_name", endpoint}, {"model", model}};
    d.state = state;
    ASSERT_TRUE(store_.CreateDeployment(d).ok());
  }

  std::vector<std::string> Versions(const std::string& name) {
    std::vector<std::string> out;
    auto listed = registry_->List(name);
    EXPECT_TRUE(listed.ok()) << listed.status();
    for (const auto& r : *listed) out.push_back(r.version);
    return out;
  }

  core::ModelSpec Reference(const std::string& text) {
    core::ModelSpec model;
    auto parsed = core::ParseModelReference(text);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    model.name = parsed->name;
    model.version = parsed->version;
    model.reference = text;
    return model;
  }

  fs::path dir_;
  ManualClock clock_;
  state::MemoryStateStore store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<ModelRegistry> registry_;
};

TEST_F(ModelRegistryTest, VersionDefaultsToTheNextInteger) {
  EXPECT_EQ(Create("m"), "1");
  EXPECT_EQ(Create("m"), "2");
  EXPECT_EQ(Create("m", "9"), "9");
  EXPECT_EQ(Create("m", "v2-beta"), "v2-beta");  // not an integer: does not count
  EXPECT_EQ(Create("m"), "10");
  EXPECT_EQ(Create("m", "0099999999999999999999"), "0099999999999999999999");
  EXPECT_EQ(Create("m"), "100000000000000000000");
  EXPECT_EQ(Create("other"), "1");
  EXPECT_THAT(Versions("m"), ElementsAre("1", "2", "9", "10", "0099999999999999999999",
                                         "100000000000000000000", "v2-beta"));
}

TEST_F(ModelRegistryTest, CreateRefusals) {
  Create("m", "1");
  auto again = registry_->Create(Asset("m", "1"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrorTarget(again.status()), "version");
  EXPECT_THAT(Message(again.status()), HasSubstr("model 'm' version '1' already exists"));

  core::ModelAsset missing = Asset("m");
  missing.artifact->digest = "sha256:" + std::string(64, '0');
  auto not_uploaded = registry_->Create(missing);
  EXPECT_EQ(not_uploaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorTarget(not_uploaded.status()), "artifact");

  EXPECT_EQ(ErrorTarget(registry_->Create(Asset("-bad")).status()), "name");
  EXPECT_EQ(ErrorTarget(registry_->Create(Asset("m", "latest")).status()), "version");
  core::ModelAsset no_files = Asset("m");
  no_files.artifact.reset();
  EXPECT_EQ(registry_->Create(no_files).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Versions("m"), ElementsAre("1"));
}

TEST_F(ModelRegistryTest, LatestIsTheMostRecentlyRegistered) {
  Create("m", "2");
  Create("m", "1");
  EXPECT_EQ(registry_->Get("m", "latest")->version, "1");
  EXPECT_EQ(registry_->Get("m", "2")->version, "2");
  EXPECT_EQ(registry_->Get("m", "3").status().code(), absl::StatusCode::kNotFound);
  absl::Status none = registry_->Get("nope", "latest").status();
  EXPECT_EQ(none.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(none), HasSubstr("'nope'"));
}

TEST_F(ModelRegistryTest, ResolveFillsTheModelFromTheRegistry) {
  core::ModelAsset asset = Asset("m", "1");
  asset.type = "mlflow_model";
  asset.description = "first";
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(registry_->Create(asset).ok());
  Create("m");  // 2

  auto one = registry_->Resolve(Reference("azureml:m:1"));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->name, "m");
  EXPECT_EQ(one->version, "1");
  EXPECT_EQ(one->type, "mlflow_model");
  EXPECT_EQ(one->description, "first");
  EXPECT_EQ(one->path, "./model");
  EXPECT_EQ(one->artifact, asset.artifact);
  EXPECT_EQ(one->reference, "azureml:m:1");

  auto latest = registry_->Resolve(Reference("azureml:m@latest"));
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->version, "2");
  EXPECT_EQ(latest->type, "custom_model");
  EXPECT_EQ(latest->reference, "azureml:m:2");
  auto registry_id = registry_->Resolve(Reference("azureml://registries/r/models/m/versions/1"));
  ASSERT_TRUE(registry_id.ok()) << registry_id.status();
  EXPECT_EQ(registry_id->reference, "azureml:m:1");

  core::ModelSpec inline_model;
  inline_model.name = "ep-blue";
  inline_model.version = "1";
  inline_model.artifact = asset.artifact;
  EXPECT_EQ(*registry_->Resolve(inline_model), inline_model);
}

TEST_F(ModelRegistryTest, UnknownReferenceIsNotFoundOnModel) {
  Create("m");
  Create("m");
  absl::Status version = registry_->Resolve(Reference("azureml:m:7")).status();
  EXPECT_EQ(version.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorTarget(version), "model");
  EXPECT_THAT(Message(version), HasSubstr("'azureml:m:7' not found"));
  EXPECT_THAT(Message(version), HasSubstr("versions 1, 2"));
  absl::Status model = registry_->Resolve(Reference("azureml:ghost@latest")).status();
  EXPECT_EQ(model.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrorTarget(model), "model");
  EXPECT_THAT(Message(model), HasSubstr("no version of model 'ghost' is registered"));
}

TEST_F(ModelRegistryTest, ResolvedModelIsLaidOutAsOnAzure) {
  Create("m");
  auto model = registry_->Resolve(Reference("azureml:m@latest"));
  ASSERT_TRUE(model.ok()) << model.status();
  auto model_dir = artifacts_->MaterializeModel(*model);
  ASSERT_TRUE(model_dir.ok()) << model_dir.status();
  EXPECT_EQ(*model_dir, dir_ / "models" / "m" / "1");
  std::ifstream in(*model_dir / "model" / "w.txt");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "weights of m:");
}

TEST_F(ModelRegistryTest, DeleteIsRefusedWhileADeploymentUsesTheVersion) {
  Create("m");  // 1
  Create("m");  // 2, the latest
  Create("other");
  Deploy("ep", "blue", "azureml:m:1");
  Deploy("ep", "green", "azureml:m@latest", ProvisioningState::kFailed);
  Deploy("ep2", "red", "azureml:m:2", ProvisioningState::kDeleting);
  Deploy("ep2", "other", "azureml:other:1");

  absl::Status one = registry_->Delete("m", "1");
  EXPECT_EQ(one.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(one), HasSubstr("used by deployment ep/blue "));
  absl::Status two = registry_->Delete("m", "2");
  EXPECT_EQ(two.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(two), HasSubstr("ep/green"));
  EXPECT_THAT(Message(two), Not(HasSubstr("red")));  // being deleted: does not count
  EXPECT_EQ(registry_->Delete("m", "latest").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->Delete("m", "3").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Versions("m"), ElementsAre("1", "2"));

  auto blue = *store_.GetDeployment("ep", "blue");
  blue.state = ProvisioningState::kDeleting;
  ASSERT_TRUE(store_.UpdateDeployment(blue).ok());
  EXPECT_TRUE(registry_->Delete("m", "1").ok());
  EXPECT_THAT(Versions("m"), ElementsAre("2"));
  EXPECT_EQ(registry_->Delete("m", "2").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_.DeleteDeployment("ep", "green").ok());
  EXPECT_TRUE(registry_->Delete("m", "2").ok());
  EXPECT_THAT(Versions("m"), ElementsAre());
}

TEST_F(ModelRegistryTest, DeleteIsRefusedWhileABatchDeploymentUsesTheVersion) {
  Create("m");
  state::ResourceRecord batch;
  batch.kind = state::kResourceBatchDeployment;
  batch.key = "scorer/blue";
  batch.doc = {{"name", "blue"}, {"endpoint_name", "scorer"}, {"model", "azureml:m:1"}};
  ASSERT_TRUE(store_.CommitResources({{state::ResourceWrite::Action::kCreate, batch}}).ok());
  absl::Status refused = registry_->Delete("m", "1");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(refused), HasSubstr("scorer/blue (batch)"));
  ASSERT_TRUE(store_.CommitResources({{state::ResourceWrite::Action::kDelete, batch}}).ok());
  EXPECT_TRUE(registry_->Delete("m", "1").ok());
}

TEST_F(ModelRegistryTest, ViewShowsWhatWasRegistered) {
  core::ModelAsset asset = Asset("m", "3");
  asset.tags = {{"k", "v"}};
  asset.description = "d";
  auto record = registry_->Create(asset);
  ASSERT_TRUE(record.ok()) << record.status();
  json view = ModelView(*record);
  EXPECT_EQ(view["name"], "m");
  EXPECT_EQ(view["version"], "3");
  EXPECT_EQ(view["type"], "custom_model");
  EXPECT_EQ(view["description"], "d");
  EXPECT_EQ(view["tags"], json({{"k", "v"}}));
  EXPECT_EQ(view["properties"], json::object());
  EXPECT_EQ(view["path"], "./model");
  EXPECT_EQ(view["artifact"]["base_name"], "model");
  EXPECT_EQ(view["artifact"]["is_file"], false);
  EXPECT_THAT(view["created_at"].get<std::string>(), ::testing::EndsWith("Z"));
}

}  // namespace
}  // namespace berth::controlplane
