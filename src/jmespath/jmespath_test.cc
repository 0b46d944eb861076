#include "jmespath/jmespath.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "jmespath/python_text.h"

namespace berth::jmespath {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// testdata/compliance.json: cases from the specification and the JMESPath compliance suite
// (basic, boolean, current, escape, filters, functions, identifiers, indices, literal,
// multiselect, pipe, slice, syntax, unicode, wildcard), in the compliance suite's layout:
// [{"comment", "given", "cases": [{"expression", "result" | "error"}]}]. Each expectation was
// checked against the reference implementation.
json LoadCompliance() {
  const auto path = std::filesystem::path(BERTH_JMESPATH_TESTDATA) / "compliance.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return json::parse(in);
}

std::string Describe(const absl::StatusOr<json>& result) {
  if (result.ok()) return "result " + result->dump();
  auto kind = KindOf(result.status());
  return "error " + std::string(kind ? KindName(*kind) : "unclassified") + " (" +
         std::string(result.status().message()) + ")";
}

TEST(JmespathComplianceTest, EveryCaseGivesItsResultOrErrorClass) {
  const json groups = LoadCompliance();
  size_t cases = 0;
  for (const json& group : groups) {
    for (const json& test : group["cases"]) {
      ++cases;
      const std::string expression = test["expression"];
      SCOPED_TRACE(group["comment"].get<std::string>() + ": " + expression);
      const absl::StatusOr<json> result = Search(expression, group["given"]);
      if (test.contains("error")) {
        ASSERT_FALSE(result.ok()) << Describe(result);
        auto kind = KindOf(result.status());
        ASSERT_TRUE(kind.has_value()) << result.status();
        EXPECT_EQ(KindName(*kind), test["error"].get<std::string>()) << result.status();
      } else {
        ASSERT_TRUE(result.ok()) << Describe(result);
        // nlohmann compares 2 and 2.0 as equal; the type must match too.
        EXPECT_EQ(*result, test["result"]) << Describe(result);
        EXPECT_EQ(result->is_number_float(), test["result"].is_number_float()) << Describe(result);
      }
    }
  }
  EXPECT_GT(cases, 300u);
}

TEST(JmespathErrorTest, KindNamesAndForeignStatuses) {
  EXPECT_EQ(KindName(ErrorKind::kSyntax), "syntax");
  EXPECT_EQ(KindName(ErrorKind::kInvalidType), "invalid-type");
  EXPECT_EQ(KindName(ErrorKind::kInvalidArity), "invalid-arity");
  EXPECT_EQ(KindName(ErrorKind::kUnknownFunction), "unknown-function");
  EXPECT_EQ(KindName(ErrorKind::kInvalidValue), "invalid-value");
  EXPECT_EQ(KindOf(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(KindOf(absl::InvalidArgumentError("other")), std::nullopt);
}

TEST(JmespathErrorTest, SyntaxErrorsNameTheColumnAndTheToken) {
  auto result = Expression::Compile("foo.bar[?baz ==]");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kSyntax);
  EXPECT_THAT(result.status().message(), HasSubstr("at column 15"));
  EXPECT_THAT(result.status().message(), HasSubstr("']'"));

  auto unknown_character = Expression::Compile("a.é");
  ASSERT_FALSE(unknown_character.ok());
  EXPECT_THAT(unknown_character.status().message(), HasSubstr("'é' at column 2"));

  auto incomplete = Expression::Compile("foo.");
  ASSERT_FALSE(incomplete.ok());
  EXPECT_THAT(incomplete.status().message(), HasSubstr("incomplete expression"));
  EXPECT_THAT(incomplete.status().message(), HasSubstr("column 4"));

  auto empty = Expression::Compile("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(KindOf(empty.status()), ErrorKind::kSyntax);
}

TEST(JmespathErrorTest, FunctionErrorsComeAtSearchAfterTheArguments) {
  // As in the reference implementation, function names and arities are checked when the
  // call is evaluated, after its arguments.
  auto unknown = Expression::Compile("nope(@)");
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  auto result = unknown->Search(json::object());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kUnknownFunction);
  EXPECT_THAT(result.status().message(), HasSubstr("nope"));

  EXPECT_EQ(KindOf(Search("nope(abs('x'))", json()).status()), ErrorKind::kInvalidType);
  EXPECT_EQ(KindOf(Search("length(a, b)", json()).status()), ErrorKind::kInvalidArity);
  EXPECT_THAT(Search("length(a, b)", json()).status().message(),
              HasSubstr("takes 1 argument, got 2"));
  // Not evaluated, so no error.
  EXPECT_EQ(*Search("`false` && nope()", json()), json(false));
  EXPECT_EQ(*Search("[*].nope()", json::array()), json::array());
}

TEST(JmespathSearchTest, CompiledExpressionIsReusableAndShareable) {
  auto compiled = Expression::Compile("people[?age > `30`].name | sort(@)");
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ(compiled->text(), "people[?age > `30`].name | sort(@)");
  const json doc = json::parse(
      R"({"people": [{"name": "c", "age": 40}, {"name": "a", "age": 35}, {"name": "b", "age": 3}]})");
  std::vector<std::thread> threads;
  std::vector<json> results(4);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = *compiled->Search(doc); });
  }
  for (auto& thread : threads) thread.join();
  for (const json& result : results) EXPECT_EQ(result, json::parse(R"(["a", "c"])"));
  const Expression copy = *compiled;
  EXPECT_EQ(*copy.Search(json::parse(R"({"people": []})")), json::array());
}

TEST(JmespathSearchTest, ResultsOutliveIntermediateValues) {
  // Members of values the evaluation made itself (merge, multi-select, literals) are borrowed
  // while the expression runs; the result must be a complete copy.
  const json doc = json::parse(R"({"a": {"x": {"deep": [1, 2]}}, "b": {"y": 2}})");
  EXPECT_EQ(*Search("merge(a, b).x.deep", doc), json::parse("[1, 2]"));
  EXPECT_EQ(*Search("[a, b][0].x", doc), json::parse(R"({"deep": [1, 2]})"));
  EXPECT_EQ(*Search("{k: a}.k.x.deep[-1]", doc), json(2));
  EXPECT_EQ(*Search("`{\"q\": [3]}`.q[0]", doc), json(3));
  EXPECT_EQ(*Search("max_by([a.x, b], &to_string(@))", doc), json::parse(R"({"y": 2})"));
}

TEST(JmespathSearchTest, NumbersKeepIntegerOrFloatAsPythonDoes) {
  const json doc = json::parse(R"({"i": [1, 2, 3], "f": [1.5, 2]})");
  EXPECT_TRUE(Search("sum(i)", doc)->is_number_integer());
  EXPECT_TRUE(Search("sum(f)", doc)->is_number_float());
  EXPECT_TRUE(Search("avg(i)", doc)->is_number_float());
  EXPECT_TRUE(Search("length(i)", doc)->is_number_integer());
  EXPECT_TRUE(Search("ceil(`1.5`)", doc)->is_number_integer());
  EXPECT_TRUE(Search("floor(f[0])", doc)->is_number_integer());
  EXPECT_TRUE(Search("abs(`-1.0`)", doc)->is_number_float());
  EXPECT_EQ(*Search("i[?@ == `2.0`]", doc), json::parse("[2]"));
  EXPECT_EQ(*Search("`1` == `true`", doc), json(false));
  EXPECT_EQ(*Search("contains(`[1]`, `true`)", doc), json(false));
}

// Objects keep insertion order as Python's dicts do (what `-o tsv` columns follow); the
// expected results are compared as text so that key order counts.
std::string Dumped(const absl::StatusOr<nlohmann::ordered_json>& result) {
  return result.ok() ? result->dump() : result.status().ToString();
}

TEST(JmespathOrderTest, MultiSelectHashKeepsTheExpressionsOrder) {
  const auto doc =
      nlohmann::ordered_json::parse(R"([{"name": "blue", "endpoint_name": "ep", "traffic": 10}])");
  EXPECT_EQ(Dumped(Search("[].{n: name, e: endpoint_name}", doc)), R"([{"n":"blue","e":"ep"}])");
  EXPECT_EQ(Dumped(Search("[0].{z: traffic, a: name, m: `1`}", doc)),
            R"({"z":10,"a":"blue","m":1})");
  // A repeated key keeps its first place and takes the last value, as a dict does.
  EXPECT_EQ(Dumped(Search("[0].{b: name, a: traffic, b: endpoint_name}", doc)),
            R"({"b":"ep","a":10})");
}

TEST(JmespathOrderTest, KeysValuesAndProjectionsFollowTheDocument) {
  const auto doc = nlohmann::ordered_json::parse(R"({"b": 1, "a": {"y": 2, "x": 3}, "c": 4})");
  EXPECT_EQ(Dumped(Search("keys(@)", doc)), R"(["b","a","c"])");
  EXPECT_EQ(Dumped(Search("values(@)", doc)), R"([1,{"y":2,"x":3},4])");
  EXPECT_EQ(Dumped(Search("*", doc)), R"([1,{"y":2,"x":3},4])");
  EXPECT_EQ(Dumped(Search("a", doc)), R"({"y":2,"x":3})");
  EXPECT_EQ(Dumped(Search("to_string(@)", doc)), R"("{\"b\":1,\"a\":{\"y\":2,\"x\":3},\"c\":4}")");
  EXPECT_EQ(Dumped(Search("`{\"q\": 1, \"p\": 2}`", doc)), R"({"q":1,"p":2})");
  // Sorting is by value, whatever the order keys came in.
  EXPECT_EQ(Dumped(Search("sort(keys(@))", doc)), R"(["a","b","c"])");
}

TEST(JmespathOrderTest, MergeUpdatesInPlaceAndAppendsNewKeys) {
  // As dict.update: an existing key keeps its position, new keys follow in order.
  EXPECT_EQ(Dumped(Search("merge(`{\"b\": 1, \"a\": 2}`, `{\"c\": 3, \"b\": 4}`, `{\"d\": 5}`)",
                          nlohmann::ordered_json())),
            R"({"b":4,"a":2,"c":3,"d":5})");
}

TEST(JmespathOrderTest, ObjectEqualityIgnoresKeyOrder) {
  const nlohmann::ordered_json null;
  EXPECT_EQ(Dumped(Search("`{\"a\":1,\"b\":2}` == `{\"b\":2,\"a\":1}`", null)), "true");
  EXPECT_EQ(Dumped(Search("`{\"a\":1,\"b\":2}` != `{\"b\":2,\"a\":1}`", null)), "false");
  EXPECT_EQ(Dumped(Search("`[{\"x\":{\"a\":1,\"b\":[{\"c\":1,\"d\":2}]}}]` == "
                          "`[{\"x\":{\"b\":[{\"d\":2,\"c\":1}],\"a\":1}}]`",
                          null)),
            "true");
  EXPECT_EQ(Dumped(Search("{a: `1`, b: `2`} == {b: `2`, a: `1`}", nlohmann::ordered_json(0))),
            "true");
  EXPECT_EQ(Dumped(Search("contains(`[1, {\"b\":2,\"a\":1}]`, `{\"a\":1,\"b\":2}`)", null)),
            "true");
  const auto rows = nlohmann::ordered_json::parse(R"([{"b": 2, "a": 1}, {"a": 1, "b": 3}])");
  EXPECT_EQ(Dumped(Search("[?@ == `{\"a\":1,\"b\":2}`]", rows)), R"([{"b":2,"a":1}])");
  // Still a deep comparison: other values, other key sets, other types are unequal.
  EXPECT_EQ(Dumped(Search("`{\"a\":1,\"b\":2}` == `{\"b\":3,\"a\":1}`", null)), "false");
  EXPECT_EQ(Dumped(Search("`{\"a\":1}` == `{\"a\":1,\"b\":2}`", null)), "false");
  EXPECT_EQ(Dumped(Search("`{\"a\":1,\"b\":2}` == `{\"a\":1}`", null)), "false");
  EXPECT_EQ(Dumped(Search("`{\"a\":1,\"b\":null}` == `{\"a\":1,\"c\":null}`", null)), "false");
  EXPECT_EQ(Dumped(Search("`{\"a\":true}` == `{\"a\":1}`", null)), "false");
  EXPECT_EQ(Dumped(Search("`{\"a\":1.0}` == `{\"a\":1}`", null)), "true");
  EXPECT_EQ(Dumped(Search("`[1,2]` == `[2,1]`", null)), "false");
  EXPECT_EQ(Dumped(Search("`9007199254740993` == `9007199254740992`", null)), "false");
}

TEST(JmespathOrderTest, JsonOverloadsConvertAndKeepNumberTypes) {
  // nlohmann::json in: its sorted order is the insertion order; out: sorted again.
  const json doc = json::parse(R"({"b": 18446744073709551615, "a": -3, "c": 2.5})");
  EXPECT_EQ(*Search("keys(@)", doc), json::parse(R"(["a", "b", "c"])"));
  const absl::StatusOr<json> values = Search("values(@)", doc);
  ASSERT_TRUE(values.ok());
  EXPECT_TRUE((*values)[0].is_number_integer() && !(*values)[0].is_number_unsigned());
  EXPECT_TRUE((*values)[1].is_number_unsigned());
  EXPECT_EQ((*values)[1].get<uint64_t>(), 18446744073709551615u);
  EXPECT_TRUE((*values)[2].is_number_float());
  EXPECT_EQ(Search("{z: a, y: b}", doc)->dump(), R"({"y":18446744073709551615,"z":-3})");
}

TEST(PythonTextTest, FloatsAsPythonRepr) {
  using internal::PythonFloatRepr;
  EXPECT_EQ(PythonFloatRepr(1.0), "1.0");
  EXPECT_EQ(PythonFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PythonFloatRepr(0.1), "0.1");
  EXPECT_EQ(PythonFloatRepr(2.5e-7), "2.5e-07");
  EXPECT_EQ(PythonFloatRepr(1e-4), "0.0001");
  EXPECT_EQ(PythonFloatRepr(1e-5), "1e-05");
  EXPECT_EQ(PythonFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(123456.789), "123456.789");
  EXPECT_EQ(PythonFloatRepr(1.5e300), "1.5e+300");
  EXPECT_EQ(PythonFloatRepr(1.0 / 3), "0.3333333333333333");
}

TEST(PythonTextTest, DumpsLikePythonJsonDumps) {
  using internal::PythonJsonDumps;
  EXPECT_EQ(PythonJsonDumps(json::parse(R"({"b": [1, 2.0, null, true], "a": "x"})")),
            R"({"a":"x","b":[1,2.0,null,true]})");
  EXPECT_EQ(PythonJsonDumps(json("q\"\\\n\t\x01\x7f é 😀")),
            R"("q\"\\\n\t\u0001\u007f \u00e9 \ud83d\ude00")");
}

TEST(PythonTextTest, NumbersAsPythonIntThenFloat) {
  using internal::PythonToNumber;
  EXPECT_EQ(PythonToNumber("42"), json(42));
  EXPECT_TRUE(PythonToNumber("42")->is_number_integer());
  EXPECT_EQ(PythonToNumber(" -7\n"), json(-7));
  EXPECT_EQ(PythonToNumber("+1_000"), json(1000));
  EXPECT_EQ(PythonToNumber("\xc2\xa0"
                           "5"),
            json(5));  // U+00A0 is whitespace to Python
  EXPECT_TRUE(PythonToNumber("2.0")->is_number_float());
  EXPECT_EQ(PythonToNumber(".5"), json(0.5));
  EXPECT_EQ(PythonToNumber("5."), json(5.0));
  EXPECT_EQ(PythonToNumber("1e3"), json(1000.0));
  EXPECT_EQ(PythonToNumber("1_0.2_5"), json(10.25));
  EXPECT_EQ(PythonToNumber("1__0"), std::nullopt);
  EXPECT_EQ(PythonToNumber("_1"), std::nullopt);
  EXPECT_EQ(PythonToNumber("0x10"), std::nullopt);
  EXPECT_EQ(PythonToNumber("."), std::nullopt);
  EXPECT_EQ(PythonToNumber("1e"), std::nullopt);
  EXPECT_EQ(PythonToNumber(""), std::nullopt);
  EXPECT_EQ(PythonToNumber("nan"), std::nullopt);
  EXPECT_EQ(PythonToNumber("-Infinity"), std::nullopt);
  EXPECT_EQ(PythonToNumber("1e999"), std::nullopt);
}

}  // namespace
}  // namespace berth::jmespath
