// Model documents (the model registry's input), asset names and model references.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "core/model_asset.h"
#include "core/spec_json.h"

namespace berth::core {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

const json kArtifact = {
    {"digest", "sha256:" + std::string(64, 'c')}, {"base_name", "model"}, {"is_file", false}};

TEST(ModelDocumentTest, ReadsAzureModelYamlFields) {
  json doc = {{"$schema", "https://azuremlschemas.azureedge.net/latest/model.schema.json"},
              {"name", "sklearn-regression"},
              {"version", 3},
              {"type", "MLflow_Model"},
              {"description", "a regression model"},
              {"tags", {{"framework", "sklearn"}, {"epochs", 10}}},
              {"properties", {{"stage", "dev"}}},
              {"path", "./model"},
              {"artifact", kArtifact}};
  auto model = ParseModelDocument(doc);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->name, "sklearn-regression");
  EXPECT_EQ(model->version, "3");
  EXPECT_EQ(model->type, "mlflow_model");
  EXPECT_EQ(model->description, "a regression model");
  EXPECT_EQ(model->tags.at("epochs"), "10");
  EXPECT_EQ(model->properties.at("stage"), "dev");
  EXPECT_EQ(model->path, "./model");
  ASSERT_TRUE(model->artifact.has_value());
  EXPECT_EQ(model->artifact->base_name, "model");

  auto again = ParseModelDocument(ToJson(*model));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *model);
}

TEST(ModelDocumentTest, DefaultsAndOptionalVersion) {
  auto model = ParseModelDocument({{"name", "m"}, {"artifact", kArtifact}});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->version, "");
  EXPECT_EQ(model->type, "custom_model");
  EXPECT_FALSE(ToJson(*model).contains("version"));
  EXPECT_FALSE(ToJson(*model).contains("path"));
}

TEST(ModelDocumentTest, ErrorsNameTheField) {
  auto unknown = ParseModelDocument({{"name", "m"}, {"pth", "./m"}}, {.allow_local_paths = true});
  EXPECT_EQ(ErrorTarget(unknown.status()), "pth");
  EXPECT_THAT(Message(unknown.status()), HasSubstr("did you mean 'path'?"));

  EXPECT_EQ(ErrorTarget(ParseModelDocument({{"path", "m"}}, {.allow_local_paths = true}).status()),
            "name");
  EXPECT_EQ(ErrorTarget(ParseModelDocument({{"name", "m"}}, {.allow_local_paths = true}).status()),
            "path");
  auto type = ParseModelDocument({{"name", "m"}, {"type", "onnx"}, {"artifact", kArtifact}});
  EXPECT_EQ(ErrorTarget(type.status()), "type");
  auto version = ParseModelDocument({{"name", "m"}, {"version", ""}, {"artifact", kArtifact}});
  EXPECT_EQ(ErrorTarget(version.status()), "version");
  auto digest =
      ParseModelDocument({{"name", "m"}, {"artifact", {{"digest", "md5:1"}, {"base_name", "m"}}}});
  EXPECT_EQ(ErrorTarget(digest.status()), "artifact.digest");
  EXPECT_FALSE(ParseModelDocument(json::array()).ok());
}

TEST(ModelDocumentTest, LocalPathMustBeUploadedForTheServer) {
  json doc = {{"name", "m"}, {"path", "./model"}};
  auto server = ParseModelDocument(doc);
  EXPECT_EQ(ErrorTarget(server.status()), "path");
  EXPECT_THAT(Message(server.status()), HasSubstr("must be uploaded"));
  EXPECT_TRUE(ParseModelDocument(doc, {.allow_local_paths = true}).ok());
}

TEST(ModelDocumentTest, LatestIsALabelNotAVersion) {
  for (const char* version : {"latest", "LATEST"}) {
    auto model = ParseModelDocument({{"name", "m"}, {"version", version}, {"artifact", kArtifact}});
    EXPECT_EQ(ErrorTarget(model.status()), "version") << version;
    EXPECT_THAT(Message(model.status()), HasSubstr("label"));
  }
}

TEST(AssetNameTest, AzureRule) {
  for (const char* good : {"m", "7", "my-model_v1.2", "A"}) {
    EXPECT_TRUE(ValidateAssetName("name", good).ok()) << good;
  }
  EXPECT_TRUE(ValidateAssetName("name", std::string(255, 'a')).ok());
  for (const std::string& bad :
       {std::string(), std::string(256, 'a'), std::string("-m"), std::string("_m"),
        std::string(".."), std::string("a/b"), std::string("a b"), std::string("m\xc3\xa9")}) {
    absl::Status status = ValidateAssetName("version", bad);
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_EQ(ErrorTarget(status), "version") << bad;
  }
}

TEST(ModelReferenceTest, ParsesEveryForm) {
  EXPECT_EQ(*ParseModelReference("azureml:m:3"), (AssetReference{"m", "3"}));
  EXPECT_EQ(*ParseModelReference("azureml:my.model-1:1.0"), (AssetReference{"my.model-1", "1.0"}));
  EXPECT_EQ(*ParseModelReference("azureml:m@latest"), (AssetReference{"m", ""}));
  EXPECT_EQ(*ParseModelReference("azureml://registries/reg/models/m/versions/2"),
            (AssetReference{"m", "2"}));
  EXPECT_EQ(*ParseModelReference("azureml://registries/reg/models/m/labels/latest"),
            (AssetReference{"m", ""}));
  for (const char* bad : {"m:3", "azureml:m", "azureml://registries/r/environments/e/versions/1",
                          "azureml:m@newest"}) {
    EXPECT_EQ(ErrorTarget(ParseModelReference(bad).status()), "model") << bad;
  }
  EXPECT_EQ(ModelReference("m", "2"), "azureml:m:2");
}

TEST(ModelReferenceTest, InlineModelNameAndVersionFollowTheAssetRule) {
  json doc = {{"name", "blue"},
              {"endpoint_name", "my-endpoint"},
              {"environment", {{"command", {"serve"}}}},
              {"model", {{"name", "../escape"}, {"artifact", kArtifact}}}};
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(doc).status()), "model.name");
  doc["model"] = {{"version", "../../artifacts"}, {"artifact", kArtifact}};
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(doc).status()), "model.version");
  doc["model"] = {{"version", 2}, {"artifact", kArtifact}};
  auto parsed = ParseDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.model->name, "my-endpoint-blue");
  EXPECT_EQ(parsed->spec.model->version, "2");
}

}  // namespace
}  // namespace berth::core
