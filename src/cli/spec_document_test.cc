#include "cli/spec_document.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

class SpecDocumentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("berth_spec_doc_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    Write("model-1/model/model.pkl", "weights");
    Write("onlinescoring/score.py", "def init(): pass\n");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& relative, const std::string& contents) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative, std::ios::binary) << contents;
  }

  fs::path root_;
};

TEST_F(SpecDocumentTest, LoadsYamlAndAppliesSetThenFlags) {
  Write("deploy/blue.yml",
        "name: blue\nendpoint_name: from-file\ninstance_count: 1\n"
        "request_settings:\n  request_timeout_ms: 3000\n");
  SpecInput input;
  input.file = root_ / "deploy/blue.yml";
  input.set_assignments = {"instance_count=2", "request_settings.max_queue_wait_ms=100"};
  input.overrides = {{"endpoint_name", "from-flag"}};
  absl::StatusOr<json> doc = BuildSpecDocument(input);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)["name"], "blue");
  EXPECT_EQ((*doc)["endpoint_name"], "from-flag");
  EXPECT_EQ((*doc)["instance_count"], 2);
  EXPECT_EQ((*doc)["request_settings"],
            json({{"request_timeout_ms", 3000}, {"max_queue_wait_ms", 100}}));
}

TEST_F(SpecDocumentTest, SetWithoutFileKeepsNullsForTheServer) {
  SpecInput input;
  input.set_assignments = {"description=null", "instance_count=3"};
  absl::StatusOr<json> doc = BuildSpecDocument(input);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE(doc->contains("description"));
  EXPECT_TRUE((*doc)["description"].is_null());
  EXPECT_EQ((*doc)["instance_count"], 3);
}

TEST_F(SpecDocumentTest, YamlErrorNamesTheFile) {
  Write("bad.yml", "name: [unclosed\n");
  absl::StatusOr<json> doc = LoadSpecFile(root_ / "bad.yml");
  ASSERT_FALSE(doc.ok());
  EXPECT_THAT(doc.status().message(), HasSubstr((root_ / "bad.yml").string() + ": "));
}

TEST_F(SpecDocumentTest, MissingFileNamesTheFile) {
  absl::StatusOr<json> doc = LoadSpecFile(root_ / "absent.yml");
  ASSERT_FALSE(doc.ok());
  EXPECT_THAT(doc.status().message(), HasSubstr("absent.yml"));
}

TEST_F(SpecDocumentTest, OnlyRegularFilesAreRead) {
  absl::StatusOr<json> zero = LoadSpecFile("/dev/zero");
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.status().message(),
            "/dev/zero: a character device, not a regular file; give a file");
  absl::StatusOr<json> folder = LoadSpecFile(root_);
  EXPECT_THAT(folder.status().message(), HasSubstr(root_.string() + ": a folder"));

  json doc = {{"environment", {{"conda_file", "/dev/zero"}}}};
  auto packed = PackDocumentArtifacts(doc, root_, "blue.yml");
  ASSERT_FALSE(packed.ok());
  EXPECT_EQ(ErrorTarget(packed.status()), "environment.conda_file");
  EXPECT_THAT(packed.status().message(),
              HasSubstr("environment.conda_file: /dev/zero: a character device"));
}

TEST_F(SpecDocumentTest, TopLevelMustBeAMapping) {
  Write("list.yml", "- a\n- b\n");
  EXPECT_FALSE(LoadSpecFile(root_ / "list.yml").ok());
}

TEST_F(SpecDocumentTest, PacksPathsRelativeToTheFileAndReferencesThem) {
  json doc = {
      {"model", {{"path", "../model-1/model/"}}},
      {"code_configuration", {{"code", "../onlinescoring"}, {"scoring_script", "score.py"}}}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts =
      PackDocumentArtifacts(doc, root_ / "deploy", "deploy/blue.yml");
  ASSERT_TRUE(artifacts.ok()) << artifacts.status();
  ASSERT_EQ(artifacts->size(), 2u);
  EXPECT_EQ((*artifacts)[0].field, "model.path");
  EXPECT_EQ((*artifacts)[1].field, "code_configuration.code");
  EXPECT_EQ(doc["model"]["path"], "../model-1/model/");
  EXPECT_EQ(doc["model"]["artifact"], json({{"digest", (*artifacts)[0].packed.digest},
                                            {"base_name", "model"},
                                            {"is_file", false}}));
  EXPECT_EQ(doc["code_configuration"]["artifact"]["base_name"], "onlinescoring");
  EXPECT_EQ(doc["code_configuration"]["code"], "../onlinescoring");
}

TEST_F(SpecDocumentTest, SingleFileModel) {
  json doc = {{"model", {{"path", "model-1/model/model.pkl"}}}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts = PackDocumentArtifacts(doc, root_, "");
  ASSERT_TRUE(artifacts.ok()) << artifacts.status();
  EXPECT_EQ(doc["model"]["artifact"]["is_file"], true);
  EXPECT_EQ(doc["model"]["artifact"]["base_name"], "model.pkl");
}

TEST_F(SpecDocumentTest, RegisteredModelReferenceIsLeftAlone) {
  json doc = {{"model", "azureml:my-model:1"}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts = PackDocumentArtifacts(doc, root_, "");
  ASSERT_TRUE(artifacts.ok()) << artifacts.status();
  EXPECT_TRUE(artifacts->empty());
  EXPECT_EQ(doc["model"], "azureml:my-model:1");
}

TEST_F(SpecDocumentTest, MissingPathNamesFieldAndFile) {
  json doc = {{"model", {{"path", "../nowhere"}}}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts =
      PackDocumentArtifacts(doc, root_ / "deploy", "deploy/blue.yml");
  ASSERT_FALSE(artifacts.ok());
  EXPECT_THAT(artifacts.status().message(), HasSubstr("deploy/blue.yml: model.path: "));
  EXPECT_THAT(artifacts.status().message(), HasSubstr("nowhere"));
  EXPECT_EQ(ErrorTarget(artifacts.status()), "model.path");
}

TEST_F(SpecDocumentTest, RemotePathIsRefused) {
  json doc = {{"code_configuration", {{"code", "https://example.com/code.zip"}}}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts =
      PackDocumentArtifacts(doc, root_, "d.yml");
  ASSERT_FALSE(artifacts.ok());
  EXPECT_THAT(artifacts.status().message(), HasSubstr("d.yml: code_configuration.code: "));
}

class FakeStore : public ArtifactStore {
 public:
  absl::StatusOr<bool> Has(std::string_view digest) override {
    ++has_calls;
    return stored.count(std::string(digest)) > 0;
  }
  absl::Status Put(std::string_view digest, const std::string& tar) override {
    stored[std::string(digest)] = tar;
    return absl::OkStatus();
  }
  std::map<std::string, std::string> stored;
  int has_calls = 0;
};

TEST_F(SpecDocumentTest, UploadsOnlyWhatTheStoreLacks) {
  json doc = {{"model", {{"path", "model-1/model"}}},
              {"code_configuration", {{"code", "onlinescoring"}}}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts = PackDocumentArtifacts(doc, root_, "");
  ASSERT_TRUE(artifacts.ok()) << artifacts.status();
  FakeStore store;
  store.stored[(*artifacts)[0].packed.digest] = "already there";
  std::vector<std::string> announced;
  absl::StatusOr<int> uploaded = UploadArtifacts(
      *artifacts, store, [&](const DocumentArtifact& a) { announced.push_back(a.field); });
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(*uploaded, 1);
  EXPECT_THAT(announced, ::testing::ElementsAre("code_configuration.code"));
  EXPECT_EQ(store.stored[(*artifacts)[1].packed.digest], (*artifacts)[1].packed.tar);
  EXPECT_EQ(store.stored[(*artifacts)[0].packed.digest], "already there");
}

TEST_F(SpecDocumentTest, SameFolderUploadedOnce) {
  json doc = {{"model", {{"path", "onlinescoring"}}},
              {"code_configuration", {{"code", "onlinescoring/"}}}};
  absl::StatusOr<std::vector<DocumentArtifact>> artifacts = PackDocumentArtifacts(doc, root_, "");
  ASSERT_TRUE(artifacts.ok()) << artifacts.status();
  FakeStore store;
  absl::StatusOr<int> uploaded = UploadArtifacts(*artifacts, store, nullptr);
  ASSERT_TRUE(uploaded.ok());
  EXPECT_EQ(*uploaded, 1);
  EXPECT_EQ(store.has_calls, 1);
}

}  // namespace
}  // namespace berth::cli
