#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Endpoint() {
  return json{{"name", "my-endpoint"},
              {"auth_mode", "key"},
              {"traffic", {{"blue", 90}, {"green", 10}}},
              {"mirror_traffic", json::object()},
              {"provisioning_state", "Succeeded"},
              {"scoring_uri", "http://127.0.0.1:8080/endpoints/my-endpoint/score"}};
}

TEST(OutputTest, ParsesFormats) {
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("yaml"), OutputFormat::kYaml);
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_FALSE(ParseOutputFormat("xml").ok());
}

TEST(OutputTest, JsonIsIndentedWithNewline) {
  EXPECT_EQ(ToJsonText(json{{"a", 1}}), "{\n  \"a\": 1\n}\n");
}

TEST(OutputTest, YamlQuotesStringsThatLookLikeOtherTypes) {
  json value = {{"version", "1"},
                {"flag", "true"},
                {"none", "null"},
                {"empty", ""},
                {"count", 2},
                {"ratio", 0.1},
                {"on", true},
                {"nothing", nullptr},
                {"list", {"a", "2"}},
                {"empty_map", json::object()},
                {"empty_list", json::array()},
                {"text", "hello world"},
                {"created_at", "2026-11-24T20:00:00Z"}};
  std::string text = ToYamlText(value);
  EXPECT_THAT(text, HasSubstr("version: \"1\""));
  EXPECT_THAT(text, HasSubstr("flag: \"true\""));
  EXPECT_THAT(text, HasSubstr("\"on\": true"));
  EXPECT_THAT(text, HasSubstr("ratio: 0.1\n"));
  EXPECT_THAT(text, HasSubstr("nothing: null"));
  EXPECT_THAT(text, HasSubstr("empty_map: {}"));
  EXPECT_THAT(text, HasSubstr("empty_list: []"));
  EXPECT_THAT(text, HasSubstr("created_at: \"2026-11-24T20:00:00Z\""));

  // Reading it back gives the same types.
  YAML::Node node = YAML::Load(text);
  EXPECT_EQ(node["version"].Tag(), "!");  // quoted: a string
  EXPECT_EQ(node["count"].as<int>(), 2);
  EXPECT_EQ(node["text"].as<std::string>(), "hello world");
  EXPECT_EQ(node["list"][1].as<std::string>(), "2");
  EXPECT_EQ(node["list"][1].Tag(), "!");
  EXPECT_TRUE(node["nothing"].IsNull());
}

TEST(OutputTest, TableAlignsColumns) {
  std::string table = FormatTable({"Name", "State"}, {{"a", "Succeeded"}, {"longer-name", "x"}});
  EXPECT_EQ(table,
            "Name         State\n"
            "-----------  ---------\n"
            "a            Succeeded\n"
            "longer-name  x\n");
}

TEST(OutputTest, EndpointTable) {
  std::string table = ToTableText(json::array({Endpoint()}), ResourceKind::kEndpoint);
  EXPECT_THAT(table, HasSubstr("Name         AuthMode  State      Traffic           Mirror"));
  EXPECT_THAT(table, HasSubstr("my-endpoint  key       Succeeded  blue=90 green=10"));
  EXPECT_THAT(table, HasSubstr("http://127.0.0.1:8080/endpoints/my-endpoint/score"));
}

TEST(OutputTest, DeploymentTableCountsReadyInstances) {
  json deployment = {{"name", "blue"},
                     {"endpoint_name", "my-endpoint"},
                     {"provisioning_state", "Updating"},
                     {"instance_count", 3},
                     {"instance_type", "local"},
                     {"instances",
                      {{{"id", 1}, {"state", "Ready"}},
                       {{"id", 2}, {"state", "Starting"}},
                       {{"id", 3}, {"state", "Ready"}}}}};
  std::string table = ToTableText(deployment, ResourceKind::kDeployment);
  EXPECT_THAT(table, HasSubstr("blue  my-endpoint  Updating  2/3        local"));
}

TEST(OutputTest, GenericTableForCredentials) {
  std::string table =
      ToTableText(json{{"primaryKey", "p"}, {"secondaryKey", "s"}}, ResourceKind::kOther);
  EXPECT_EQ(table,
            "Key           Value\n"
            "------------  -----\n"
            "primaryKey    p\n"
            "secondaryKey  s\n");
}

TEST(OutputTest, PrintsWarnings) {
  std::ostringstream err;
  PrintWarnings(json{{"warnings", {"instance_type is ignored", 3}}}, err);
  PrintWarnings(json{{"name", "x"}}, err);
  EXPECT_EQ(err.str(), "Warning: instance_type is ignored\n");
}

}  // namespace
}  // namespace berth::cli
