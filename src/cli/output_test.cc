#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <regex>
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

TEST(OutputTest, AutoTableForCredentialsHasOneColumnPerKey) {
  std::string table =
      ToTableText(json{{"primaryKey", "p"}, {"secondaryKey", "s"}}, ResourceKind::kOther);
  EXPECT_EQ(table,
            "PrimaryKey  SecondaryKey\n"
            "----------  ------------\n"
            "p           s\n");
}

TEST(OutputTest, AutoTableAsAzPrintsIt) {
  // Nested values, nulls, id/type/etag are left out; scalars and lists get columns of their own.
  EXPECT_EQ(ToAutoTableText(json::array({json{{"name", "a"},
                                              {"id", 1},
                                              {"tags", json::object()},
                                              {"count", 2},
                                              {"ok", true},
                                              {"note", nullptr}},
                                         json{{"name", "bb"}, {"extra", "x"}}})),
            "Count  Name  Ok    Extra\n"
            "-----  ----  ----  -----\n"
            "2      a     True\n"
            "       bb          x\n");
  EXPECT_EQ(ToAutoTableText(json::array({"x", "y"})), "Result\n------\nx\ny\n");
  EXPECT_EQ(ToAutoTableText(json::array({json::array({"a", 1})})),
            "Column1  Column2\n-------  -------\na        1\n");
  EXPECT_EQ(ToAutoTableText(json::array()), "");
}

TEST(OutputTest, TsvAsAzPrintsIt) {
  EXPECT_EQ(ToTsvText("Succeeded"), "Succeeded\n");
  EXPECT_EQ(ToTsvText(true), "true\n");
  EXPECT_EQ(ToTsvText(3), "3\n");
  EXPECT_EQ(ToTsvText(json::array({"a", "b"})), "a\nb\n");
  // Rows: values in key order, nested lists as their length, nested objects empty, Python's
  // spelling of booleans and null inside a row.
  EXPECT_EQ(ToTsvText(json::array({json{{"b", "x"}, {"a", 1}, {"c", json::array({1, 2})}},
                                   json{{"a", false}, {"b", nullptr}, {"c", json::object()}}})),
            "1\tx\t2\nFalse\tNone\t\n");
  EXPECT_EQ(ToTsvText(json::array({json::array({"blue", 90}), json::array({"green", 10})})),
            "blue\t90\ngreen\t10\n");
  EXPECT_EQ(ToTsvText(json{{"primaryKey", "p"}, {"secondaryKey", "s"}}), "p\ts\n");
}

TEST(OutputTest, ParsesEveryAzFormat) {
  EXPECT_EQ(*ParseOutputFormat("jsonc"), OutputFormat::kJsonColor);
  EXPECT_EQ(*ParseOutputFormat("yamlc"), OutputFormat::kYamlColor);
  EXPECT_EQ(*ParseOutputFormat("tsv"), OutputFormat::kTsv);
  EXPECT_EQ(*ParseOutputFormat("none"), OutputFormat::kNone);
  EXPECT_EQ(OutputFormatNames().size(), 7u);
  for (const std::string& name : OutputFormatNames()) EXPECT_TRUE(ParseOutputFormat(name).ok());
}

TEST(OutputTest, RenderHonoursTheFormatAndNullPrintsNothing) {
  const json value = {{"a", 1}};
  EXPECT_EQ(Render(value, ResourceKind::kOther, {OutputFormat::kNone}), "");
  EXPECT_EQ(Render(json(), ResourceKind::kOther, {OutputFormat::kJson}), "");
  EXPECT_EQ(Render(value, ResourceKind::kOther, {OutputFormat::kTsv}), "1\n");
  // Without a terminal the colored formats are the plain ones, as in az.
  EXPECT_EQ(Render(value, ResourceKind::kOther, {OutputFormat::kJsonColor, false, false}),
            ToJsonText(value));
  EXPECT_EQ(Render(value, ResourceKind::kOther, {OutputFormat::kYamlColor, false, false}),
            ToYamlText(value));
  // A queried endpoint list is no longer a list of endpoints: its table is the automatic one.
  const json rows = json::array({json{{"name", "e"}}});
  EXPECT_EQ(Render(rows, ResourceKind::kEndpoint, {OutputFormat::kTable, true, false}),
            "Name\n----\ne\n");
}

TEST(OutputTest, ColoredJsonAndYamlKeepTheText) {
  const json value = {{"name", "e"}, {"n", 2}, {"ok", true}, {"list", {1, "x"}}};
  std::string colored = ToColorJsonText(value);
  EXPECT_THAT(colored, HasSubstr("\x1b["));
  // Without the escape sequences it is the plain JSON text.
  std::string plain = std::regex_replace(colored, std::regex("\x1b\\[[0-9]+m"), "");
  EXPECT_EQ(plain, ToJsonText(value));
  std::string yaml = ToColorYamlText(value);
  EXPECT_EQ(std::regex_replace(yaml, std::regex("\x1b\\[[0-9]+m"), ""), ToYamlText(value));
  EXPECT_THAT(yaml, HasSubstr("\x1b[94mname\x1b[0m: e"));
}

TEST(OutputTest, PrintsWarnings) {
  std::ostringstream err;
  PrintWarnings(json{{"warnings", {"instance_type is ignored", 3}}}, err);
  PrintWarnings(json{{"name", "x"}}, err);
  EXPECT_EQ(err.str(), "Warning: instance_type is ignored\n");
}

}  // namespace
}  // namespace berth::cli
