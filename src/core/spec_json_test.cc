// Unit tests of the spec value helpers, names, YAML conversion, merge and endpoint documents.

#include "core/spec_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"
#include "core/spec.h"

namespace berth::core {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(SpecTest, AuthModeNames) {
  EXPECT_STREQ(AuthModeName(AuthMode::kKey), "key");
  EXPECT_STREQ(AuthModeName(AuthMode::kAmlToken), "aml_token");
}

TEST(SpecTest, ProvisioningStateNamesRoundTrip) {
  for (auto state :
       {ProvisioningState::kCreating, ProvisioningState::kUpdating, ProvisioningState::kSucceeded,
        ProvisioningState::kFailed, ProvisioningState::kDeleting}) {
    EXPECT_EQ(ParseProvisioningState(ProvisioningStateName(state)), state);
  }
  EXPECT_STREQ(ProvisioningStateName(ProvisioningState::kSucceeded), "Succeeded");
  EXPECT_EQ(ParseProvisioningState("succeeded"), std::nullopt);
  EXPECT_EQ(ParseProvisioningState("Canceled"), std::nullopt);
}

TEST(SpecTest, NamesCompareIgnoringCase) {
  EXPECT_TRUE(SameName("Green", "green"));
  EXPECT_TRUE(SameName("GREEN", "Green"));
  EXPECT_FALSE(SameName("green", "greens"));
  EXPECT_FALSE(SameName("blue", "green"));
}

TEST(SpecTest, TrafficKeysTakeTheDeploymentsNames) {
  const std::vector<std::string> names = {"Green", "blue"};
  EXPECT_EQ(TrafficByDeploymentName({{"green", 60}, {"BLUE", 40}}, names),
            (std::map<std::string, int>{{"Green", 60}, {"blue", 40}}));
  // A key naming no deployment stays as written (the control plane refuses it on write).
  EXPECT_EQ(TrafficByDeploymentName({{"Red", 100}}, names),
            (std::map<std::string, int>{{"Red", 100}}));
}

TEST(SpecTest, OperationRunningWhileCreatingUpdatingDeleting) {
  EXPECT_TRUE(IsOperationRunning(ProvisioningState::kCreating));
  EXPECT_TRUE(IsOperationRunning(ProvisioningState::kUpdating));
  EXPECT_TRUE(IsOperationRunning(ProvisioningState::kDeleting));
  EXPECT_FALSE(IsOperationRunning(ProvisioningState::kSucceeded));
  EXPECT_FALSE(IsOperationRunning(ProvisioningState::kFailed));
}

TEST(SpecTest, RoutesDefaultWithoutInferenceConfig) {
  ServingRoutes routes = RoutesFor(DeploymentSpec{});
  EXPECT_EQ(routes.liveness_path, "/");
  EXPECT_EQ(routes.readiness_path, "/");
  EXPECT_EQ(routes.scoring_path, "/score");
  EXPECT_EQ(routes.swagger_path, "/swagger.json");
}

TEST(SpecTest, RoutesFollowInferenceConfig) {
  DeploymentSpec spec;
  spec.environment.inference_config =
      InferenceConfig{{8501, "/live"}, {8501, "/ready"}, {8501, "/v1/models/m:predict"}};
  ServingRoutes routes = RoutesFor(spec);
  EXPECT_EQ(routes.liveness_path, "/live");
  EXPECT_EQ(routes.readiness_path, "/ready");
  EXPECT_EQ(routes.scoring_path, "/v1/models/m:predict");
  EXPECT_EQ(routes.swagger_path, "/swagger.json");
}

TEST(SpecTest, InitialInstances) {
  DeploymentSpec spec;
  spec.instance_count = 3;
  EXPECT_EQ(InitialInstances(spec), 3);  // type default: instance_count
  spec.scale_settings.type = ScaleType::kTargetUtilization;
  spec.scale_settings.min_instances = 0;
  spec.scale_settings.max_instances = 4;
  EXPECT_EQ(InitialInstances(spec), 1);  // one even with min 0: create proves it works
  spec.scale_settings.min_instances = 2;
  EXPECT_EQ(InitialInstances(spec), 2);
  spec.scale_settings.min_instances = 4;
  EXPECT_EQ(InitialInstances(spec), 4);
}

TEST(SpecTest, ScaleDownDelayDefaultsToTwentyPollingIntervals) {
  ScaleSettings scale;
  EXPECT_EQ(scale.ScaleDownDelaySeconds(), 20);
  scale.polling_interval_s = 3;
  EXPECT_EQ(scale.ScaleDownDelaySeconds(), 60);
  scale.scale_down_delay_s = 5;
  EXPECT_EQ(scale.ScaleDownDelaySeconds(), 5);
}

TEST(ValidateNameTest, AcceptsAzureNames) {
  for (const char* name :
       {"abc", "my-endpoint", "A1b", "blue", "a-b-c-1", "abcdefghijklmnopqrstuvwxyz012345"}) {
    EXPECT_TRUE(ValidateName("endpoint", name, "name").ok()) << name;
  }
}

TEST(ValidateNameTest, LengthLimitsUseAzureMessage) {
  absl::Status status = ValidateName("endpoint", "ab", "name");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(status), "name");
  EXPECT_THAT(Message(status),
              HasSubstr("The name for an endpoint must be at least 3 and at most 32 characters "
                        "long (inclusive of both limits)."));
  EXPECT_FALSE(ValidateName("endpoint", "abcdefghijklmnopqrstuvwxyz0123456", "name").ok());
  EXPECT_FALSE(ValidateName("endpoint", "", "name").ok());
}

TEST(ValidateNameTest, RejectsBadCharactersAndStart) {
  for (const char* name : {"1abc", "-abc", "my_endpoint", "my.endpoint", "caf\xc3\xa9s"}) {
    absl::Status status = ValidateName("deployment", name, "traffic.x");
    ASSERT_FALSE(status.ok()) << name;
    EXPECT_EQ(ErrorTarget(status), "traffic.x");
    EXPECT_THAT(Message(status),
                HasSubstr("The name for a deployment must start with an upper- or lowercase "
                          "letter and only consist of '-'s and alphanumeric characters."));
  }
}

TEST(ValidateNameTest, RejectsTrailingAndDoubleDashes) {
  EXPECT_THAT(Message(ValidateName("endpoint", "abc-", "name")),
              HasSubstr("must end with a letter or a digit"));
  EXPECT_THAT(Message(ValidateName("endpoint", "a--b", "name")),
              HasSubstr("must not contain consecutive '-'s"));
}

TEST(ClosestMatchTest, FindsNearbyNamesCaseInsensitively) {
  std::vector<std::string> fields = {"request_timeout_ms", "max_concurrent_requests_per_instance",
                                     "max_queue_wait_ms"};
  EXPECT_EQ(ClosestMatch("max_concurent_requests_per_instance", fields),
            "max_concurrent_requests_per_instance");
  EXPECT_EQ(ClosestMatch("REQUEST_TIMEOUT_MS", fields), "request_timeout_ms");
  EXPECT_EQ(ClosestMatch("colour", fields), "");
  EXPECT_EQ(ClosestMatch("nme", {"name", "tags"}), "name");
  EXPECT_EQ(ClosestMatch("anything", {}), "");
}

TEST(ClosestMatchTest, SwapsCountAsOneEditAndLengthBoundsTheSearch) {
  EXPECT_EQ(ClosestMatch("paht", {"port", "path"}), "path");
  EXPECT_EQ(ClosestMatch("scoring_rotue", {"liveness_route", "scoring_route"}), "scoring_route");
  EXPECT_EQ(ClosestMatch(std::string(100000, 'x'), {"name", "tags"}), "");
  EXPECT_EQ(ClosestMatch("Name", {"name"}), "name");
}

TEST(YamlToJsonTest, PlainScalarsFollowTheCoreSchema) {
  auto doc = YamlToJson(
      "a: ~\nb:\nc: null\nd: True\ne: FALSE\nf: 42\ng: -7\nh: +3\ni: 1.5\nj: 1e3\n"
      "k: hello world\nl: 0x1F\nm: yes\nn: .inf\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_TRUE((*doc)["a"].is_null());
  EXPECT_TRUE((*doc)["b"].is_null());
  EXPECT_TRUE((*doc)["c"].is_null());
  EXPECT_EQ((*doc)["d"], true);
  EXPECT_EQ((*doc)["e"], false);
  EXPECT_EQ((*doc)["f"], 42);
  EXPECT_TRUE((*doc)["f"].is_number_integer());
  EXPECT_EQ((*doc)["g"], -7);
  EXPECT_EQ((*doc)["h"], 3);
  EXPECT_DOUBLE_EQ((*doc)["i"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ((*doc)["j"].get<double>(), 1000.0);
  EXPECT_EQ((*doc)["k"], "hello world");
  EXPECT_EQ((*doc)["l"], "0x1F");  // only decimal integers are numbers
  EXPECT_EQ((*doc)["m"], "yes");   // YAML 1.2: not a boolean
  EXPECT_EQ((*doc)["n"], ".inf");  // JSON cannot hold infinities
}

TEST(YamlToJsonTest, QuotedScalarsStayStrings) {
  auto doc = YamlToJson("a: \"123\"\nb: 'true'\nc: ''\nd: !!str 7\ne: \"null\"\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(*doc, (json{{"a", "123"}, {"b", "true"}, {"c", ""}, {"d", "7"}, {"e", "null"}}));
}

TEST(YamlToJsonTest, CollectionsAndOverflow) {
  auto doc = YamlToJson("list: [1, two, {k: v}]\nbig: 123456789012345678901234567890\n");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ((*doc)["list"], (json::array({1, "two", {{"k", "v"}}})));
  EXPECT_EQ((*doc)["big"], "123456789012345678901234567890");
}

TEST(YamlToJsonTest, DuplicateKeyIsAnError) {
  auto doc = YamlToJson("name: a\nauth_mode: key\nname: b\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(doc.status()), "line 3, column 1: duplicate key 'name'");
}

TEST(YamlToJsonTest, SyntaxErrorNamesLineAndColumn) {
  auto doc = YamlToJson("name: blue\nlist: [1, 2\n");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(doc.status()), ::testing::MatchesRegex("line [0-9]+, column [0-9]+: .+"));
  auto bad_map = YamlToJson("a: b: c\n");
  ASSERT_FALSE(bad_map.ok());
  EXPECT_THAT(Message(bad_map.status()), HasSubstr("line 1, column 5"));
}

TEST(YamlToJsonTest, EmptyAndMultipleDocuments) {
  EXPECT_EQ(Message(YamlToJson("").status()), "empty document");
  EXPECT_EQ(Message(YamlToJson("# only a comment\n").status()), "empty document");
  EXPECT_EQ(Message(YamlToJson("~\n").status()), "empty document");
  EXPECT_THAT(Message(YamlToJson("a: 1\n---\nb: 2\n").status()), HasSubstr("one YAML document"));
}

TEST(YamlToJsonTest, ComplexKeysAndRecursiveAliasesFail) {
  EXPECT_THAT(Message(YamlToJson("? [1, 2]\n: x\n").status()),
              HasSubstr("mapping keys must be plain strings"));
  // yaml-cpp builds a cycle for a self-referencing alias; conversion must stop, not recurse.
  auto cyclic = YamlToJson("&a [*a]\n");
  EXPECT_FALSE(cyclic.ok());
  auto aliases = YamlToJson("base: &b {x: 1}\ncopy: *b\n");
  ASSERT_TRUE(aliases.ok()) << aliases.status();
  EXPECT_EQ((*aliases)["copy"], (json{{"x", 1}}));
}

TEST(MergeSpecTest, ObjectsMergeScalarsAndListsReplace) {
  json base = {{"name", "blue"},
               {"instance_count", 1},
               {"environment_variables", {{"A", "1"}, {"B", "2"}}},
               {"environment", {{"command", {"serve", "--port", "{port}"}}, {"image", "x"}}}};
  json update = {{"instance_count", 3},
                 {"environment_variables", {{"B", "20"}, {"C", "3"}}},
                 {"environment", {{"command", {"other"}}}}};
  json merged = MergeSpec(base, update);
  EXPECT_EQ(merged["instance_count"], 3);
  EXPECT_EQ(merged["environment_variables"], (json{{"A", "1"}, {"B", "20"}, {"C", "3"}}));
  EXPECT_EQ(merged["environment"]["command"], json::array({"other"}));
  EXPECT_EQ(merged["environment"]["image"], "x");
  EXPECT_EQ(merged["name"], "blue");
}

TEST(MergeSpecTest, NullRemovesKeys) {
  json base = {{"description", "old"}, {"environment_variables", {{"A", "1"}, {"B", "2"}}}};
  json update = {{"description", nullptr},
                 {"environment_variables", {{"A", nullptr}}},
                 {"tags", {{"t", nullptr}, {"u", "v"}}}};
  json merged = MergeSpec(base, update);
  EXPECT_FALSE(merged.contains("description"));
  EXPECT_EQ(merged["environment_variables"], (json{{"B", "2"}}));
  EXPECT_EQ(merged["tags"], (json{{"u", "v"}}));
}

TEST(MergeSpecTest, TrafficReplacesAsAWhole) {
  json base = {{"name", "ep"}, {"traffic", {{"blue", 100}}}, {"mirror_traffic", {{"green", 10}}}};
  json kept = MergeSpec(base, {{"description", "d"}});
  EXPECT_EQ(kept["traffic"], (json{{"blue", 100}}));
  EXPECT_EQ(kept["mirror_traffic"], (json{{"green", 10}}));
  json replaced =
      MergeSpec(base, {{"traffic", {{"green", 100}}}, {"mirror_traffic", json::object()}});
  EXPECT_EQ(replaced["traffic"], (json{{"green", 100}}));
  EXPECT_EQ(replaced["mirror_traffic"], json::object());
}

TEST(SetAssignmentsTest, BuildsNestedTypedUpdate) {
  auto update = SetAssignmentsToUpdate(
      {"request_settings.max_concurrent_requests_per_instance=4",
       "environment_variables.WORKER_COUNT=4", "request_settings.request_timeout_ms=9000",
       "description=hello: world # not a comment", "app_insights_enabled=false"});
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(*update,
            (json{{"request_settings",
                   {{"max_concurrent_requests_per_instance", 4}, {"request_timeout_ms", 9000}}},
                  {"environment_variables", {{"WORKER_COUNT", 4}}},
                  {"description", "hello: world # not a comment"},
                  {"app_insights_enabled", false}}));
}

TEST(SetAssignmentsTest, FlowCollectionsQuotesAndEmptyValues) {
  auto update = SetAssignmentsToUpdate({"environment.command=[python, -m, http.server, '{port}']",
                                        "tags={team: ml, tier: 1}", "version=\"2\"",
                                        "description=", "a.b=1", "a.b=2"});
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ((*update)["environment"]["command"],
            json::array({"python", "-m", "http.server", "{port}"}));
  EXPECT_EQ((*update)["tags"], (json{{"team", "ml"}, {"tier", 1}}));
  EXPECT_EQ((*update)["version"], "2");
  EXPECT_TRUE((*update)["description"].is_null());
  EXPECT_EQ((*update)["a"]["b"], 2);
}

TEST(SetAssignmentsTest, MalformedAssignmentsNameThemselves) {
  for (const char* bad : {"instance_count", "=3", "a..b=1", ".a=1", "a.=1", "tags=[a, b"}) {
    auto update = SetAssignmentsToUpdate({"instance_count=2", bad});
    ASSERT_FALSE(update.ok()) << bad;
    EXPECT_EQ(update.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Message(update.status()), HasSubstr(std::string("'") + bad + "'"));
  }
}

absl::StatusOr<Parsed<EndpointSpec>> ParseEndpointYaml(const std::string& yaml) {
  auto doc = YamlToJson(yaml);
  if (!doc.ok()) return doc.status();
  return ParseEndpointSpec(*doc);
}

TEST(EndpointSpecTest, MinimalDocumentGetsDefaults) {
  auto parsed = ParseEndpointSpec(json{{"name", "my-endpoint"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.name, "my-endpoint");
  EXPECT_EQ(parsed->spec.auth_mode, AuthMode::kKey);
  EXPECT_THAT(parsed->spec.traffic, IsEmpty());
  EXPECT_THAT(parsed->warnings, IsEmpty());
}

TEST(EndpointSpecTest, AuthModeIsCaseInsensitive) {
  for (const char* mode : {"aml_token", "AMLToken", "AML_TOKEN", "amltoken"}) {
    auto parsed = ParseEndpointSpec(json{{"name", "ep1"}, {"auth_mode", mode}});
    ASSERT_TRUE(parsed.ok()) << mode << ": " << parsed.status();
    EXPECT_EQ(parsed->spec.auth_mode, AuthMode::kAmlToken) << mode;
  }
  auto key = ParseEndpointSpec(json{{"name", "ep1"}, {"auth_mode", "Key"}});
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->spec.auth_mode, AuthMode::kKey);
  auto bad = ParseEndpointSpec(json{{"name", "ep1"}, {"auth_mode", "password"}});
  EXPECT_EQ(ErrorTarget(bad.status()), "auth_mode");
}

TEST(EndpointSpecTest, AadTokenIsRefusedNotOpened) {
  for (const char* mode : {"aad_token", "AADToken"}) {
    auto parsed = ParseEndpointSpec(json{{"name", "ep1"}, {"auth_mode", mode}});
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ErrorTarget(parsed.status()), "auth_mode");
    EXPECT_THAT(Message(parsed.status()), HasSubstr("Microsoft Entra (aad_token)"));
    EXPECT_THAT(Message(parsed.status()), HasSubstr("'key' or 'aml_token'"));
  }
}

TEST(EndpointSpecTest, TrafficMustSumToZeroOrHundred) {
  auto parsed = ParseEndpointYaml("name: ep1\ntraffic:\n  blue: 80\n  green: 10\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ErrorTarget(parsed.status()), "traffic");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("must sum to 0 or 100, got 90"));
  EXPECT_TRUE(ParseEndpointYaml("name: ep1\ntraffic: {blue: 0, green: 0}\n").ok());
  EXPECT_TRUE(ParseEndpointYaml("name: ep1\ntraffic: {blue: 90, green: 10}\n").ok());
}

TEST(EndpointSpecTest, TrafficDropsZerosAndKeepsNamesAsWritten) {
  // A lower-cased key would never match a deployment named `Blue`.
  auto parsed = ParseEndpointYaml("name: ep1\ntraffic: {Blue: 100, green: 0}\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.traffic, (std::map<std::string, int>{{"Blue", 100}}));
  auto mirror = ParseEndpointYaml("name: ep1\nmirror_traffic: {GREEN: 10}\n");
  ASSERT_TRUE(mirror.ok()) << mirror.status();
  EXPECT_EQ(mirror->spec.mirror_traffic, (std::map<std::string, int>{{"GREEN", 10}}));
}

TEST(EndpointSpecTest, TrafficEntriesAreChecked) {
  auto bad_name = ParseEndpointYaml("name: ep1\ntraffic: {blue_1: 100}\n");
  EXPECT_EQ(ErrorTarget(bad_name.status()), "traffic.blue_1");
  auto too_big = ParseEndpointYaml("name: ep1\ntraffic: {blue: 101}\n");
  EXPECT_EQ(ErrorTarget(too_big.status()), "traffic.blue");
  EXPECT_THAT(Message(too_big.status()), HasSubstr("between 0 and 100, got 101"));
  auto text = ParseEndpointYaml("name: ep1\ntraffic: {blue: \"100\"}\n");
  EXPECT_EQ(Message(text.status()), "traffic.blue: expected an integer, got string \"100\"");
  auto twice = ParseEndpointYaml("name: ep1\ntraffic: {blue: 50, BLUE: 50}\n");
  EXPECT_THAT(Message(twice.status()), HasSubstr("listed twice"));
  auto list = ParseEndpointYaml("name: ep1\ntraffic: [blue]\n");
  EXPECT_EQ(ErrorTarget(list.status()), "traffic");
}

TEST(EndpointSpecTest, MirrorTrafficRules) {
  auto sixty = ParseEndpointYaml("name: ep1\ntraffic: {blue: 100}\nmirror_traffic: {green: 60}\n");
  ASSERT_FALSE(sixty.ok());
  EXPECT_EQ(ErrorTarget(sixty.status()), "mirror_traffic.green");
  EXPECT_THAT(Message(sixty.status()), HasSubstr("at most 50"));

  auto two = ParseEndpointYaml("name: ep1\nmirror_traffic: {green: 10, red: 10}\n");
  EXPECT_EQ(ErrorTarget(two.status()), "mirror_traffic");

  auto both = ParseEndpointYaml("name: ep1\ntraffic: {blue: 100}\nmirror_traffic: {blue: 10}\n");
  EXPECT_EQ(ErrorTarget(both.status()), "mirror_traffic.blue");
  auto both_cased =
      ParseEndpointYaml("name: ep1\ntraffic: {Blue: 100}\nmirror_traffic: {bLUE: 10}\n");
  EXPECT_EQ(ErrorTarget(both_cased.status()), "mirror_traffic.bLUE");

  auto ok =
      ParseEndpointYaml("name: ep1\ntraffic: {blue: 100}\nmirror_traffic: {green: 50, red: 0}\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->spec.mirror_traffic, (std::map<std::string, int>{{"green", 50}}));
}

TEST(EndpointSpecTest, UnknownFieldSuggestsClosest) {
  auto parsed = ParseEndpointSpec(json{{"name", "ep1"}, {"auth_mod", "key"}});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ErrorTarget(parsed.status()), "auth_mod");
  EXPECT_EQ(Message(parsed.status()),
            "auth_mod: unknown field 'auth_mod'; did you mean 'auth_mode'?");
  auto far = ParseEndpointSpec(json{{"name", "ep1"}, {"zzzzzzzz", 1}});
  EXPECT_EQ(Message(far.status()), "zzzzzzzz: unknown field 'zzzzzzzz'");
}

TEST(EndpointSpecTest, EchoedOutputFieldsAreIgnoredAndUnhonouredFieldsWarn) {
  json doc = {{"name", "ep1"},
              {"provisioning_state", "Succeeded"},
              {"scoring_uri", "http://x/score"},
              {"openapi_uri", "http://x/swagger.json"},
              {"id", "ep1"},
              {"reason", ""},
              {"created_at", "2026-01-01T00:00:00Z"},
              {"updated_at", "2026-01-01T00:00:00Z"},
              {"warnings", json::array()},
              {"$schema", "https://azuremlschemas.azureedge.net/x.json"}};
  auto quiet = ParseEndpointSpec(doc);
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_THAT(quiet->warnings, IsEmpty());

  doc["public_network_access"] = "Enabled";
  auto enabled = ParseEndpointSpec(doc);
  ASSERT_TRUE(enabled.ok()) << enabled.status();
  EXPECT_THAT(enabled->warnings, IsEmpty());

  doc["public_network_access"] = "disabled";
  doc["identity"] = {{"type", "system_assigned"}};
  doc["compute"] = "azureml:k8s";
  doc["kind"] = "Managed";
  doc["location"] = "westeurope";
  auto warned = ParseEndpointSpec(doc);
  ASSERT_TRUE(warned.ok()) << warned.status();
  // public_network_access is enforced (the private listener), so it is no warning.
  EXPECT_EQ(warned->warnings.size(), 4u);
  EXPECT_FALSE(warned->spec.public_network_access);
  EXPECT_TRUE(enabled->spec.public_network_access);
  EXPECT_EQ(ToJson(warned->spec)["public_network_access"], "disabled");
  doc["public_network_access"] = "private";
  EXPECT_EQ(ErrorTarget(ParseEndpointSpec(doc).status()), "public_network_access");
}

TEST(EndpointSpecTest, DocumentShapeAndNameAreChecked) {
  auto list = ParseEndpointSpec(json::array({1}));
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(Message(list.status()), HasSubstr("got a list"));
  EXPECT_EQ(ErrorTarget(ParseEndpointSpec(json::object()).status()), "name");
  EXPECT_EQ(Message(ParseEndpointSpec(json{{"name", 12}}).status()),
            "name: expected a string, got integer 12");
  EXPECT_EQ(ErrorTarget(ParseEndpointSpec(json{{"name", "my_ep"}}).status()), "name");
}

TEST(EndpointSpecTest, TagsBecomeStrings) {
  auto parsed = ParseEndpointYaml("name: ep1\ntags: {team: ml, tier: 2, on: true, ratio: 0.5}\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.tags,
            (std::map<std::string, std::string>{
                {"team", "ml"}, {"tier", "2"}, {"on", "true"}, {"ratio", "0.5"}}));
  auto nested = ParseEndpointYaml("name: ep1\ntags: {team: {a: b}}\n");
  EXPECT_EQ(ErrorTarget(nested.status()), "tags.team");
}

TEST(EndpointSpecTest, ToJsonRoundTrips) {
  EndpointSpec spec;
  spec.name = "my-endpoint";
  spec.description = "demo";
  spec.tags = {{"team", "ml"}};
  spec.auth_mode = AuthMode::kAmlToken;
  spec.traffic = {{"blue", 90}, {"green", 10}};
  spec.mirror_traffic = {{"red", 20}};
  json doc = ToJson(spec);
  EXPECT_EQ(doc["auth_mode"], "aml_token");
  auto parsed = ParseEndpointSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec, spec);

  EndpointSpec minimal;
  minimal.name = "abc";
  json defaults = ToJson(minimal);
  EXPECT_EQ(defaults, (json{{"name", "abc"},
                            {"description", ""},
                            {"tags", json::object()},
                            {"auth_mode", "key"},
                            {"traffic", json::object()},
                            {"mirror_traffic", json::object()},
                            {"public_network_access", "enabled"}}));
}

TEST(DeploymentSpecTest, ToJsonRoundTripsAFullSpec) {
  DeploymentSpec spec;
  spec.name = "blue";
  spec.endpoint_name = "my-endpoint";
  spec.description = "first";
  spec.tags = {{"v", "1"}};
  ArtifactRef model_artifact{"sha256:" + std::string(64, 'a'), "model", false};
  spec.model = ModelSpec{.name = "my-endpoint-blue",
                         .version = "3",
                         .type = "custom_model",
                         .path = "../model-1/model/",
                         .artifact = model_artifact,
                         .reference = "",
                         .description = "weights"};
  spec.code_configuration = CodeConfiguration{
      "../onlinescoring/", ArtifactRef{"sha256:" + std::string(64, 'b'), "score.py", true},
      "score.py"};
  spec.environment.command = {"python", "-m", "server", "--port", "{port}"};
  spec.environment.inference_config =
      InferenceConfig{{8080, "/healthz"}, {8080, "/ready"}, {8080, "/predict"}};
  spec.environment.conda_file = "env/conda.yaml";
  spec.environment_variables = {{"WORKER_COUNT", "2"}};
  spec.instance_type = "Standard_DS3_v2";
  spec.instance_count = 3;
  spec.request_settings = RequestSettings{1000, 4, 0};
  spec.liveness_probe = ProbeSettings{0, 5, 1, 1, 3};
  spec.readiness_probe = ProbeSettings{1, 2, 3, 4, 5};
  spec.request_settings.retry_on_instance_failure = false;
  spec.scale_settings = ScaleSettings{ScaleType::kTargetUtilization, 0, 5, 60, 2, 30};
  spec.instance_count = InitialInstances(spec);

  auto parsed = ParseDeploymentSpec(ToJson(spec));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec, spec);
  EXPECT_EQ(parsed->warnings.size(), 2u);  // instance_type, conda_file

  DeploymentSpec referenced;
  referenced.name = "green";
  referenced.endpoint_name = "my-endpoint";
  referenced.model.emplace();
  referenced.model->name = "m";
  referenced.model->version = "2";
  referenced.model->reference = "azureml:m:2";
  referenced.environment.command = {"serve"};
  auto reparsed = ParseDeploymentSpec(ToJson(referenced));
  ASSERT_TRUE(reparsed.ok()) << reparsed.status();
  EXPECT_EQ(reparsed->spec, referenced);
}

TEST(DeploymentSpecTest, AnImageAloneIsNothingToServe) {
  json doc = {{"name", "blue"},
              {"endpoint_name", "my-endpoint"},
              {"environment", {{"image", "mcr.microsoft.com/azureml/minimal-py311-inference"}}}};
  auto parsed = ParseDeploymentSpec(doc);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(parsed.status()), "environment.image");
  const std::string message(parsed.status().message());
  EXPECT_NE(message.find("does not run container images"), std::string::npos) << message;
  for (const char* alternative :
       {"scoring_script", "MLmodel", "triton_model", "environment.command"}) {
    EXPECT_NE(message.find(alternative), std::string::npos) << alternative << ": " << message;
  }
  // Without an image the error stays on environment.command; with a script the image is only
  // a warning.
  doc["environment"].erase("image");
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(doc).status()), "environment.command");
  doc["environment"]["image"] = "x";
  doc["code_configuration"] = {
      {"code", "src"},
      {"scoring_script", "score.py"},
      {"artifact", {{"digest", "sha256:" + std::string(64, 'b')}, {"base_name", "src"}}}};
  auto with_script = ParseDeploymentSpec(doc);
  ASSERT_TRUE(with_script.ok()) << with_script.status();
  EXPECT_EQ(with_script->warnings.size(), 1u);  // environment.image: not honoured
}

}  // namespace
}  // namespace berth::core
