#include "cli/generic_update.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Doc() {
  return json{{"name", "blue"},
              {"tags", {{"team", "ml"}, {"tier", "gold"}}},
              {"containers", json::array({json{{"name", "a"}}, json{{"name", "b"}}})}};
}

TEST(GenericUpdateTest, AddAppendsJsonKeyValueObjectsOrStrings) {
  json doc = Doc();
  ASSERT_TRUE(ApplyAddRemove({.add = {{"containers", R"({"name": "c", "port": 1})"},
                                      {"containers", "name=d", "port=2"},
                                      {"containers[0].ports", "80"},
                                      {"labels", "plain"}},
                              .remove = {}},
                             doc)
                  .ok());
  EXPECT_EQ(doc["containers"].size(), 4u);
  EXPECT_EQ(doc["containers"][2], json({{"name", "c"}, {"port", 1}}));
  EXPECT_EQ(doc["containers"][3], json({{"name", "d"}, {"port", 2}}));
  EXPECT_EQ(doc["containers"][0]["ports"], json::array({80}));  // a new list
  EXPECT_EQ(doc["labels"], json::array({"plain"}));
}

TEST(GenericUpdateTest, RemoveDeletesFieldsAndElements) {
  json doc = Doc();
  ASSERT_TRUE(
      ApplyAddRemove({.add = {}, .remove = {{"tags.tier"}, {"containers", "0"}}}, doc).ok());
  EXPECT_EQ(doc["tags"], json({{"team", "ml"}}));
  EXPECT_EQ(doc["containers"], json::array({json{{"name", "b"}}}));
  ASSERT_TRUE(ApplyAddRemove({.add = {}, .remove = {{"containers[0].name"}}}, doc).ok());
  EXPECT_EQ(doc["containers"][0], json::object());
}

TEST(GenericUpdateTest, ErrorsNameTheArgument) {
  json doc = Doc();
  const json before = doc;
  auto message = [&](AddRemoveArguments arguments) {
    return std::string(ApplyAddRemove(arguments, doc).message());
  };
  EXPECT_THAT(message({.add = {}, .remove = {{"tags.nope"}}}),
              HasSubstr("--remove tags.nope: no such field"));
  EXPECT_THAT(message({.add = {}, .remove = {{"containers", "5"}}}),
              HasSubstr("--remove containers 5: index out of range: the list has 2 elements"));
  EXPECT_THAT(message({.add = {}, .remove = {{"containers", "x"}}}),
              HasSubstr("non-negative integer"));
  EXPECT_THAT(message({.add = {{"tags", "x"}}, .remove = {}}), HasSubstr("'tags' is not a list"));
  EXPECT_THAT(message({.add = {{"missing.deeper", "x"}}, .remove = {}}),
              HasSubstr("no such field"));
  EXPECT_THAT(message({.add = {{"containers"}}, .remove = {}}),
              HasSubstr("expected a path and a value"));
  EXPECT_THAT(message({.add = {}, .remove = {{"a..b"}}}), HasSubstr("empty field"));
  EXPECT_EQ(doc, before);  // the failures changed nothing
}

TEST(GenericUpdateTest, MergeDocumentCarriesOnlyTheDifference) {
  json after = Doc();
  after["tags"].erase("tier");
  after["tags"]["new"] = "x";
  after["containers"].push_back(json{{"name", "c"}});
  after["instance_count"] = 2;
  after.erase("name");
  EXPECT_EQ(MergeDocumentBetween(Doc(), after), json({{"name", nullptr},
                                                      {"tags", {{"tier", nullptr}, {"new", "x"}}},
                                                      {"containers", after["containers"]},
                                                      {"instance_count", 2}}));
  EXPECT_EQ(MergeDocumentBetween(Doc(), Doc()), json::object());
  // The traffic maps replace as a whole (core::MergeSpec), so they travel whole.
  json before = {{"traffic", {{"blue", 100}, {"green", 0}}}};
  json changed = {{"traffic", {{"blue", 90}, {"green", 10}}}};
  EXPECT_EQ(MergeDocumentBetween(before, changed), changed);
}

}  // namespace
}  // namespace berth::cli
