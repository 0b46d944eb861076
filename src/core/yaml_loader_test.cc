// Loads realistic Azure ML YAML files (as text) through YamlToJson and the spec parsers.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "core/spec_json.h"

namespace berth::core {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

absl::StatusOr<Parsed<EndpointSpec>> LoadEndpoint(const std::string& yaml) {
  auto doc = YamlToJson(yaml);
  if (!doc.ok()) return doc.status();
  return ParseEndpointSpec(*doc);
}

absl::StatusOr<Parsed<DeploymentSpec>> LoadDeployment(const std::string& yaml,
                                                      DeploymentParseOptions options = {}) {
  auto doc = YamlToJson(yaml);
  if (!doc.ok()) return doc.status();
  return ParseDeploymentSpec(*doc, options);
}

const std::string kDigestA = "sha256:" + std::string(64, 'a');

// azureml-examples cli/endpoints/online/managed/sample/endpoint.yml
constexpr char kEndpointYaml[] = R"(
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: my-endpoint
auth_mode: key
)";

// azureml-examples cli/endpoints/online/kubernetes/kubernetes-endpoint.yml
constexpr char kKubernetesEndpointYaml[] = R"(
$schema: https://azuremlschemas.azureedge.net/latest/kubernetesOnlineEndpoint.schema.json
name: my-endpoint
compute: azureml:inferencecompute
auth_mode: Key
tags:
  tag1: endpoint-tag1-value
)";

// azureml-examples cli/endpoints/online/managed/sample/blue-deployment.yml
constexpr char kBlueDeploymentYaml[] = R"(
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: my-endpoint
model:
  path: ../../model-1/model/
code_configuration:
  code: ../../model-1/onlinescoring/
  scoring_script: score.py
environment:
  conda_file: ../../model-1/environment/conda.yaml
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
instance_type: Standard_DS3_v2
instance_count: 1
)";

// A berth custom-command deployment, in the shape of the BYOC tfserving sample.
constexpr char kCustomCommandYaml[] = R"(
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: green
endpoint_name: my-endpoint
description: half plus two, served by a local program
model:
  name: half-plus-two
  version: 2
  path: ./half_plus_two
  artifact:
    digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    base_name: half_plus_two
    is_file: false
environment:
  command: [python3, serve.py, --port, "{port}"]
  inference_config:
    liveness_route:
      port: 8501
      path: /v1/models/half_plus_two
    readiness_route:
      port: 8501
      path: /v1/models/half_plus_two
    scoring_route:
      port: 8501
      path: /v1/models/half_plus_two:predict
environment_variables:
  MODEL_BASE_PATH: /var/azureml-app/azureml-models/tfserving-mounted/1
  WORKER_COUNT: 4
  VERBOSE: true
  RATIO: 0.5
  EMPTY:
instance_type: Standard_DS3_v2
instance_count: 2
request_settings:
  request_timeout_ms: 3000
readiness_probe:
  period: 5
)";

TEST(YamlLoaderTest, AzureEndpointSample) {
  auto parsed = LoadEndpoint(kEndpointYaml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.name, "my-endpoint");
  EXPECT_EQ(parsed->spec.auth_mode, AuthMode::kKey);
  EXPECT_THAT(parsed->warnings, IsEmpty());
}

TEST(YamlLoaderTest, KubernetesEndpointSampleWarnsAboutCompute) {
  auto parsed = LoadEndpoint(kKubernetesEndpointYaml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.auth_mode, AuthMode::kKey);
  EXPECT_EQ(parsed->spec.tags.at("tag1"), "endpoint-tag1-value");
  ASSERT_EQ(parsed->warnings.size(), 1u);
  EXPECT_THAT(parsed->warnings[0], HasSubstr("compute"));
}

TEST(YamlLoaderTest, BlueSampleNeedsUploadedFolders) {
  auto parsed = LoadDeployment(kBlueDeploymentYaml);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ErrorTarget(parsed.status()), "model.path");
  EXPECT_EQ(Message(parsed.status()),
            "model.path: local path '../../model-1/model/' must be uploaded; use the berth CLI, "
            "which uploads it");
}

TEST(YamlLoaderTest, BlueSampleIsAScoringScriptDeployment) {
  // As the CLI checks the file before uploading: local paths pass.
  auto parsed = LoadDeployment(kBlueDeploymentYaml, {.allow_local_paths = true});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(ServingKindOf(parsed->spec), ServingKind::kScoringScript);
  EXPECT_EQ(parsed->spec.code_configuration->scoring_script, "score.py");
}

TEST(YamlLoaderTest, CodeWithoutArtifactIsRefused) {
  std::string yaml = std::string(kBlueDeploymentYaml) + R"(
environment_variables: {A: b}
)";
  auto doc = YamlToJson(yaml);
  ASSERT_TRUE(doc.ok()) << doc.status();
  (*doc)["model"]["artifact"] = {{"digest", kDigestA}, {"base_name", "model"}};
  auto parsed = ParseDeploymentSpec(*doc);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ErrorTarget(parsed.status()), "code_configuration.code");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("'../../model-1/onlinescoring/'"));
}

TEST(YamlLoaderTest, CustomCommandDeploymentWithDefaults) {
  auto parsed = LoadDeployment(kCustomCommandYaml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const DeploymentSpec& spec = parsed->spec;
  EXPECT_EQ(spec.name, "green");
  EXPECT_EQ(spec.endpoint_name, "my-endpoint");
  EXPECT_EQ(spec.environment.command,
            (std::vector<std::string>{"python3", "serve.py", "--port", "{port}"}));
  ASSERT_TRUE(spec.environment.inference_config.has_value());
  EXPECT_EQ(spec.environment.inference_config->scoring_route,
            (Route{8501, "/v1/models/half_plus_two:predict"}));
  ASSERT_TRUE(spec.model.has_value());
  EXPECT_EQ(spec.model->name, "half-plus-two");
  EXPECT_EQ(spec.model->version, "2");
  EXPECT_EQ(spec.model->type, "custom_model");
  ASSERT_TRUE(spec.model->artifact.has_value());
  EXPECT_EQ(spec.model->artifact->digest, kDigestA);
  EXPECT_EQ(spec.model->artifact->base_name, "half_plus_two");
  EXPECT_EQ(spec.environment_variables,
            (std::map<std::string, std::string>{
                {"MODEL_BASE_PATH", "/var/azureml-app/azureml-models/tfserving-mounted/1"},
                {"WORKER_COUNT", "4"},
                {"VERBOSE", "true"},
                {"RATIO", "0.5"},
                {"EMPTY", ""}}));
  EXPECT_EQ(spec.instance_count, 2);
  EXPECT_EQ(spec.request_settings.request_timeout_ms, 3000);
  EXPECT_EQ(spec.request_settings.max_concurrent_requests_per_instance, 1);
  EXPECT_EQ(spec.request_settings.max_queue_wait_ms, 500);
  EXPECT_EQ(spec.liveness_probe, ProbeSettings{});
  EXPECT_EQ(spec.readiness_probe.period_s, 5);
  EXPECT_EQ(spec.readiness_probe.failure_threshold, 30);
  ASSERT_EQ(parsed->warnings.size(), 1u);
  EXPECT_THAT(parsed->warnings[0], HasSubstr("instance_type"));

  ServingRoutes routes = RoutesFor(spec);
  EXPECT_EQ(routes.liveness_path, "/v1/models/half_plus_two");
  EXPECT_EQ(routes.scoring_path, "/v1/models/half_plus_two:predict");
}

constexpr char kMinimalCommand[] = R"(
name: blue
endpoint_name: my-endpoint
environment:
  command: ./server --listen 127.0.0.1:{port}   --verbose
)";

TEST(YamlLoaderTest, CommandStringIsSplitOnWhitespace) {
  auto parsed = LoadDeployment(kMinimalCommand);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.environment.command,
            (std::vector<std::string>{"./server", "--listen", "127.0.0.1:{port}", "--verbose"}));
  EXPECT_FALSE(parsed->spec.model.has_value());
  EXPECT_EQ(parsed->spec.instance_count, 1);
  EXPECT_THAT(parsed->warnings, IsEmpty());
  EXPECT_EQ(RoutesFor(parsed->spec).scoring_path, "/score");
}

TEST(YamlLoaderTest, BadCommandsAreRefused) {
  for (const char* command : {"[]", "\"  \"", "{a: b}", "[\"\", x]", "[serve, [x]]"}) {
    std::string yaml = absl::StrCat(
        "name: blue\nendpoint_name: my-endpoint\nenvironment:\n"
        "  command: ",
        command, "\n");
    auto parsed = LoadDeployment(yaml);
    ASSERT_FALSE(parsed.ok()) << command;
    EXPECT_THAT(ErrorTarget(parsed.status()), HasSubstr("environment.command")) << command;
  }
  auto numbers = LoadDeployment(
      "name: blue\nendpoint_name: my-endpoint\nenvironment: {command: [serve, --port, 8080]}\n");
  ASSERT_TRUE(numbers.ok()) << numbers.status();
  EXPECT_EQ(numbers->spec.environment.command.back(), "8080");
}

TEST(YamlLoaderTest, MisspelledNestedFieldSuggestsTheRightOne) {
  std::string yaml = std::string(kMinimalCommand) + R"(
request_settings:
  max_concurent_requests_per_instance: 4
)";
  auto parsed = LoadDeployment(yaml);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(parsed.status()), "request_settings.max_concurent_requests_per_instance");
  EXPECT_THAT(Message(parsed.status()),
              HasSubstr("unknown field 'max_concurent_requests_per_instance'; did you mean "
                        "'max_concurrent_requests_per_instance'?"));
}

TEST(YamlLoaderTest, UnknownFieldsAtAnyDepth) {
  auto top = LoadDeployment(std::string(kMinimalCommand) + "instance_cont: 2\n");
  EXPECT_THAT(Message(top.status()), HasSubstr("did you mean 'instance_count'?"));
  auto route = LoadDeployment(R"(
name: blue
endpoint_name: my-endpoint
environment:
  command: [serve]
  inference_config:
    liveness_route: {port: 1, path: /}
    readiness_route: {port: 1, path: /}
    scoring_route: {port: 1, paht: /score}
)");
  EXPECT_EQ(ErrorTarget(route.status()), "environment.inference_config.scoring_route.paht");
  EXPECT_THAT(Message(route.status()), HasSubstr("did you mean 'path'?"));
}

TEST(YamlLoaderTest, WrongTypesNameFieldExpectedAndGiven) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"request_settings: {request_timeout_ms: fast}",
            "request_settings.request_timeout_ms: expected an integer, got string \"fast\""},
           {"instance_count: \"2\"", "instance_count: expected an integer, got string \"2\""},
           {"instance_count: 2.5", "instance_count: expected an integer, got number 2.5"},
           {"instance_count: 51", "instance_count: must be between 1 and 50, got 51"},
           {"instance_count: 0", "instance_count: must be between 1 and 50, got 0"},
           {"app_insights_enabled: \"yes\"",
            "app_insights_enabled: expected a boolean (true or false), got string \"yes\""},
           {"request_settings: {request_timeout_ms: 180001}",
            "request_settings.request_timeout_ms: must be between 1 and 180000, got 180001"},
           {"request_settings: {max_queue_wait_ms: -1}",
            "request_settings.max_queue_wait_ms: must be at least 0, got -1"},
           {"request_settings: 5", "request_settings: expected an object, got integer 5"},
           {"liveness_probe: {success_threshold: 2}",
            "liveness_probe.success_threshold: must be between 1 and 1, got 2"},
           {"readiness_probe: {period: 0}", "readiness_probe.period: must be at least 1, got 0"},
           {"environment_variables: [A, B]",
            "environment_variables: expected an object of names to values, got a list"},
           {"tags: {a: [1]}", "tags.a: expected a string, number or boolean, got a list"},
           {"description: 7", "description: expected a string, got integer 7"},
       }) {
    auto parsed = LoadDeployment(std::string(kMinimalCommand) + c.yaml + "\n");
    ASSERT_FALSE(parsed.ok()) << c.yaml;
    EXPECT_EQ(Message(parsed.status()), c.message);
  }
  auto whole = LoadDeployment(std::string(kMinimalCommand) + "instance_count: 3.0\n");
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->spec.instance_count, 3);
  auto readiness = LoadDeployment(std::string(kMinimalCommand) +
                                  "readiness_probe: {success_threshold: 2, initial_delay: 0}\n");
  ASSERT_TRUE(readiness.ok()) << readiness.status();
  EXPECT_EQ(readiness->spec.readiness_probe.success_threshold, 2);
}

TEST(YamlLoaderTest, BadDeploymentAndEndpointNames) {
  auto bad =
      LoadDeployment("name: blue_1\nendpoint_name: my-endpoint\nenvironment: {command: x}\n");
  EXPECT_EQ(ErrorTarget(bad.status()), "name");
  EXPECT_THAT(Message(bad.status()), HasSubstr("The name for a deployment"));
  auto short_endpoint =
      LoadDeployment("name: blue\nendpoint_name: ab\nenvironment: {command: x}\n");
  EXPECT_EQ(ErrorTarget(short_endpoint.status()), "endpoint_name");
  EXPECT_THAT(Message(short_endpoint.status()), HasSubstr("The name for an endpoint"));
  auto missing = LoadDeployment("name: blue\nenvironment: {command: x}\n");
  EXPECT_EQ(ErrorTarget(missing.status()), "endpoint_name");
  auto endpoint = LoadEndpoint("name: 9lives\n");
  EXPECT_EQ(ErrorTarget(endpoint.status()), "name");
}

TEST(YamlLoaderTest, EndpointTrafficSampleErrors) {
  auto ninety = LoadEndpoint(std::string(kEndpointYaml) + "traffic:\n  blue: 90\n");
  EXPECT_EQ(ErrorTarget(ninety.status()), "traffic");
  EXPECT_THAT(Message(ninety.status()), HasSubstr("got 90"));
  auto mirror = LoadEndpoint(std::string(kEndpointYaml) +
                             "traffic: {blue: 100}\nmirror_traffic: {green: 60}\n");
  EXPECT_EQ(ErrorTarget(mirror.status()), "mirror_traffic.green");
  auto aad = LoadEndpoint("name: my-endpoint\nauth_mode: aad_token\n");
  EXPECT_EQ(ErrorTarget(aad.status()), "auth_mode");
  EXPECT_THAT(Message(aad.status()), HasSubstr("aad_token"));
}

TEST(YamlLoaderTest, InferenceConfigNeedsAllRoutesWithAbsolutePaths) {
  auto missing = LoadDeployment(R"(
name: blue
endpoint_name: my-endpoint
environment:
  command: [serve]
  inference_config:
    liveness_route: {port: 8080, path: /}
    readiness_route: {port: 8080, path: /}
)");
  EXPECT_EQ(ErrorTarget(missing.status()), "environment.inference_config.scoring_route");
  auto relative = LoadDeployment(R"(
name: blue
endpoint_name: my-endpoint
environment:
  command: [serve]
  inference_config:
    liveness_route: {port: 8080, path: health}
    readiness_route: {port: 8080, path: /}
    scoring_route: {port: 8080, path: /score}
)");
  EXPECT_EQ(Message(relative.status()),
            "environment.inference_config.liveness_route.path: expected a path starting with "
            "'/', got string \"health\"");
  auto port = LoadDeployment(R"(
name: blue
endpoint_name: my-endpoint
environment:
  command: [serve]
  inference_config:
    liveness_route: {path: /}
    readiness_route: {port: 8080, path: /}
    scoring_route: {port: 8080, path: /score}
)");
  EXPECT_EQ(ErrorTarget(port.status()), "environment.inference_config.liveness_route.port");
}

json CommandDeploymentWithScoringPath(const std::string& path) {
  json route = {{"port", 8080}, {"path", "/"}};
  json scoring = {{"port", 8080}, {"path", path}};
  return json{
      {"name", "blue"},
      {"endpoint_name", "my-endpoint"},
      {"environment",
       {{"command", {"serve"}},
        {"inference_config",
         {{"liveness_route", route}, {"readiness_route", route}, {"scoring_route", scoring}}}}}};
}

TEST(YamlLoaderTest, RoutePathsAreRfc3986Paths) {
  for (const std::string path :
       {"/score", "/", "/v1/models/m:predict", "/a%20b", "/x-y_z.~!$&'()*+,;=@"}) {
    auto parsed = ParseDeploymentSpec(CommandDeploymentWithScoringPath(path));
    ASSERT_TRUE(parsed.ok()) << path << ": " << parsed.status();
    EXPECT_EQ(RoutesFor(parsed->spec).scoring_path, path);
  }
  const std::string field = "environment.inference_config.scoring_route.path";
  // The path goes into the request line sent to instances: these would split or forge it.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"/score\r\nX-Injected: 1", "CR (\\r)"},
      {"/score\nHost: evil", "LF (\\n)"},
      {"/my score", "a space"},
      {"/score HTTP/1.1", "a space"},
      {"/score?x=1", "without a query"},
      {"/score#top", "without a query or fragment"},
      {"/100%", "'%' must start an escape"},
      {"/%zz", "'%' must start an escape"},
      {std::string("/a\0b", 4), "a NUL byte"},
      {"/caf\xc3\xa9", "byte 0xc3"},
      {"/\"quoted\"", "'\"'"},
  };
  for (const auto& [path, why] : refused) {
    auto parsed = ParseDeploymentSpec(CommandDeploymentWithScoringPath(path));
    ASSERT_FALSE(parsed.ok()) << path;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(ErrorTarget(parsed.status()), field) << path;
    EXPECT_THAT(Message(parsed.status()), HasSubstr(why)) << path;
  }
  auto space = ParseDeploymentSpec(CommandDeploymentWithScoringPath("/my score"));
  EXPECT_EQ(Message(space.status()),
            field +
                ": invalid path at character 4: a space is not allowed; use letters, digits, "
                "-._~!$&'()*+,;=:@/ or %XX escapes (RFC 3986)");
}

TEST(YamlLoaderTest, NulBytesInCommandAndEnvironmentAreRefused) {
  json doc = {{"name", "blue"},
              {"endpoint_name", "my-endpoint"},
              {"environment", {{"command", {"serve", std::string("--x\0y", 5)}}}}};
  auto word = ParseDeploymentSpec(doc);
  ASSERT_FALSE(word.ok());
  EXPECT_EQ(ErrorTarget(word.status()), "environment.command[1]");
  EXPECT_THAT(Message(word.status()), HasSubstr("NUL byte"));

  doc["environment"]["command"] = std::string("serve --x\0y", 11);
  auto text = ParseDeploymentSpec(doc);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(ErrorTarget(text.status()), "environment.command");

  doc["environment"]["command"] = {"serve"};
  doc["environment_variables"] = {{"GOOD", "1"}, {"BAD", std::string("a\0b", 3)}};
  auto variable = ParseDeploymentSpec(doc);
  ASSERT_FALSE(variable.ok());
  EXPECT_EQ(ErrorTarget(variable.status()), "environment_variables.BAD");
  EXPECT_THAT(Message(variable.status()), HasSubstr("NUL byte"));

  doc["environment_variables"]["BAD"] = "a b";
  EXPECT_TRUE(ParseDeploymentSpec(doc).ok());
}

TEST(YamlLoaderTest, ArtifactsAreValidated) {
  auto doc = YamlToJson(kCustomCommandYaml);
  ASSERT_TRUE(doc.ok());
  json bad_digest = *doc;
  bad_digest["model"]["artifact"]["digest"] = "sha256:" + std::string(64, 'A');
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(bad_digest).status()), "model.artifact.digest");
  json bad_base = *doc;
  bad_base["model"]["artifact"]["base_name"] = "a/b";
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(bad_base).status()), "model.artifact.base_name");
  json no_digest = *doc;
  no_digest["model"]["artifact"].erase("digest");
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(no_digest).status()), "model.artifact.digest");
  json no_path = *doc;
  no_path["model"] = {{"name", "m"}};
  EXPECT_EQ(ErrorTarget(ParseDeploymentSpec(no_path).status()), "model.path");
}

TEST(YamlLoaderTest, InlineModelDefaultsAndReferences) {
  auto inline_model = LoadDeployment(std::string(kMinimalCommand) + R"(
model:
  path: model.pkl
  artifact: {digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", base_name: model.pkl, is_file: true}
)");
  ASSERT_TRUE(inline_model.ok()) << inline_model.status();
  EXPECT_EQ(inline_model->spec.model->name, "my-endpoint-blue");
  EXPECT_EQ(inline_model->spec.model->version, "1");
  EXPECT_TRUE(inline_model->spec.model->artifact->is_file);

  auto reference = LoadDeployment(std::string(kMinimalCommand) + "model: azureml:my-model:3\n");
  ASSERT_TRUE(reference.ok()) << reference.status();
  EXPECT_EQ(reference->spec.model->reference, "azureml:my-model:3");
  EXPECT_EQ(reference->spec.model->name, "my-model");
  EXPECT_EQ(reference->spec.model->version, "3");
  // Resolved by the control plane's model registry: nothing to warn about here.
  EXPECT_THAT(reference->warnings, ::testing::Not(Contains(HasSubstr("model"))));

  auto latest = LoadDeployment(std::string(kMinimalCommand) + "model: azureml:my-model@latest\n");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->spec.model->name, "my-model");

  auto bad = LoadDeployment(std::string(kMinimalCommand) + "model: my-model:3\n");
  EXPECT_EQ(ErrorTarget(bad.status()), "model");
  auto bad_type =
      LoadDeployment(std::string(kMinimalCommand) + "model: {path: m, type: onnx_model}\n",
                     {.allow_local_paths = true});
  EXPECT_EQ(ErrorTarget(bad_type.status()), "model.type");
}

TEST(YamlLoaderTest, ServingKinds) {
  auto triton = LoadDeployment(R"(
name: blue
endpoint_name: my-endpoint
model: {path: ./models, type: triton_model}
)",
                               {.allow_local_paths = true});
  ASSERT_TRUE(triton.ok()) << triton.status();
  EXPECT_EQ(ServingKindOf(triton->spec), ServingKind::kTritonModel);

  auto mlflow = LoadDeployment(R"(
name: blue
endpoint_name: my-endpoint
model: {path: ./model, type: mlflow_model}
)",
                               {.allow_local_paths = true});
  ASSERT_TRUE(mlflow.ok()) << mlflow.status();
  EXPECT_EQ(ServingKindOf(mlflow->spec), ServingKind::kMlflow);

  // An environment reference alone serves nothing.
  auto curated = LoadDeployment(
      "name: blue\nendpoint_name: my-endpoint\n"
      "environment: azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest\n");
  EXPECT_EQ(ErrorTarget(curated.status()), "environment.command");

  DeploymentSpec spec;
  EXPECT_FALSE(CheckServable(spec).ok());
  spec.environment.command = {"serve"};
  EXPECT_TRUE(CheckServable(spec).ok());
  EXPECT_EQ(ServingKindOf(spec), ServingKind::kCustomCommand);
}

TEST(YamlLoaderTest, PythonAndCondaExtensions) {
  auto doc = YamlToJson(R"(
name: blue
endpoint_name: my-endpoint
code_configuration: {code: ./src, scoring_script: score.py}
environment:
  conda_file: conda.yaml
  conda: {name: env, dependencies: [python=3.8, {pip: [numpy]}]}
  python: /usr/bin/python3
)");
  ASSERT_TRUE(doc.ok());
  auto parsed = ParseDeploymentSpec(*doc, {.allow_local_paths = true});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.environment.python, "/usr/bin/python3");
  EXPECT_NE(parsed->spec.environment.conda.find("python=3.8"), std::string::npos);
  auto round = ParseDeploymentSpec(ToJson(parsed->spec), {.allow_local_paths = true});
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->spec, parsed->spec);

  (*doc)["environment"]["python"] = "python3";
  auto relative = ParseDeploymentSpec(*doc, {.allow_local_paths = true});
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(ErrorTarget(relative.status()), "environment.python");
}

TEST(YamlLoaderTest, UnhonouredFieldsWarn) {
  auto parsed = LoadDeployment(std::string(kMinimalCommand) + R"(
type: kubernetes
app_insights_enabled: true
scale_settings:
  type: target_utilization
  min_instances: 1
  max_instances: 3
  target_utilization_percentage: 70
  polling_interval: 10
egress_public_network_access: disabled
data_collector: {collections: {request: {enabled: true}}}
resources: {requests: {cpu: "1"}}
model_mount_path: /var/tfserving-model-mount
properties: {anything: goes}
)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  // egress_public_network_access, resources and scale_settings are honoured, so they are no
  // warnings.
  EXPECT_EQ(parsed->warnings.size(), 4u);
  EXPECT_EQ(parsed->spec.scale_settings.type, ScaleType::kTargetUtilization);
  EXPECT_FALSE(parsed->spec.egress_public_network_access);

  auto quiet = LoadDeployment(std::string(kMinimalCommand) + R"(
app_insights_enabled: false
scale_settings: {type: default}
egress_public_network_access: enabled
)");
  ASSERT_TRUE(quiet.ok()) << quiet.status();
  EXPECT_THAT(quiet->warnings, IsEmpty());
  auto bad_scale = LoadDeployment(std::string(kMinimalCommand) + "scale_settings: {type: auto}\n");
  EXPECT_EQ(ErrorTarget(bad_scale.status()), "scale_settings.type");
}

TEST(YamlLoaderTest, ScaleSettingsDefaults) {
  auto absent = LoadDeployment(kMinimalCommand);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(absent->spec.scale_settings, ScaleSettings{});
  EXPECT_EQ(absent->spec.scale_settings.type, ScaleType::kDefault);
  EXPECT_EQ(absent->spec.scale_settings.ScaleDownDelaySeconds(), 20);

  auto target =
      LoadDeployment(std::string(kMinimalCommand) + "scale_settings: {type: target_utilization}\n");
  ASSERT_TRUE(target.ok()) << target.status();
  const ScaleSettings& scale = target->spec.scale_settings;
  EXPECT_EQ(scale.type, ScaleType::kTargetUtilization);
  EXPECT_EQ(scale.min_instances, 1);
  EXPECT_EQ(scale.max_instances, 1);
  EXPECT_EQ(scale.target_utilization_percentage, 70);
  EXPECT_EQ(scale.polling_interval_s, 1);
  EXPECT_EQ(scale.scale_down_delay_s, 0);
  EXPECT_EQ(scale.ScaleDownDelaySeconds(), 20);
  EXPECT_EQ(target->spec.instance_count, 1);
  EXPECT_THAT(target->warnings, IsEmpty());
}

TEST(YamlLoaderTest, ScaleSettingsTargetUtilization) {
  auto parsed = LoadDeployment(std::string(kMinimalCommand) + R"(
scale_settings:
  type: Target_Utilization
  min_instances: 0
  max_instances: 5
  target_utilization_percentage: 50
  polling_interval: 2
  scale_down_delay: 30
)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ScaleSettings& scale = parsed->spec.scale_settings;
  EXPECT_EQ(scale, (ScaleSettings{ScaleType::kTargetUtilization, 0, 5, 50, 2, 30}));
  EXPECT_EQ(scale.ScaleDownDelaySeconds(), 30);
  // A new deployment starts one instance even with min_instances 0.
  EXPECT_EQ(parsed->spec.instance_count, 1);
  EXPECT_EQ(InitialInstances(parsed->spec), 1);
  EXPECT_THAT(parsed->warnings, IsEmpty());

  auto no_delay = LoadDeployment(std::string(kMinimalCommand) +
                                 "scale_settings: {type: target_utilization, polling_interval: 3, "
                                 "max_instances: 4, min_instances: 3}\n");
  ASSERT_TRUE(no_delay.ok()) << no_delay.status();
  EXPECT_EQ(no_delay->spec.scale_settings.ScaleDownDelaySeconds(), 60);
  EXPECT_EQ(no_delay->spec.instance_count, 3);
}

TEST(YamlLoaderTest, InstanceCountWithTargetUtilizationWarnsOnlyWhenItDiffers) {
  const std::string scale =
      "scale_settings: {type: target_utilization, min_instances: 2, "
      "max_instances: 6}\n";
  auto differs = LoadDeployment(std::string(kMinimalCommand) + scale + "instance_count: 4\n");
  ASSERT_TRUE(differs.ok()) << differs.status();
  EXPECT_EQ(differs->spec.instance_count, 2);
  ASSERT_EQ(differs->warnings.size(), 1u);
  EXPECT_THAT(differs->warnings[0], AllOf(HasSubstr("instance_count"), HasSubstr("starts with 2"),
                                          HasSubstr("between 2 and 6")));
  auto same = LoadDeployment(std::string(kMinimalCommand) + scale + "instance_count: 2\n");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_THAT(same->warnings, IsEmpty());
  auto absent = LoadDeployment(std::string(kMinimalCommand) + scale);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_THAT(absent->warnings, IsEmpty());
  EXPECT_EQ(absent->spec.instance_count, 2);
}

TEST(YamlLoaderTest, ScaleSettingsDefaultTypeIgnoresTheRest) {
  auto parsed = LoadDeployment(std::string(kMinimalCommand) + R"(
instance_count: 3
scale_settings: {type: default, min_instances: 0, max_instances: 9, polling_interval: 5}
)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.scale_settings, ScaleSettings{});
  EXPECT_EQ(parsed->spec.instance_count, 3);
  EXPECT_EQ(InitialInstances(parsed->spec), 3);
  ASSERT_EQ(parsed->warnings.size(), 1u);
  EXPECT_THAT(parsed->warnings[0],
              AllOf(HasSubstr("scale_settings: "),
                    HasSubstr("min_instances, max_instances, polling_interval ignored")));
  // Ignored keys are still checked.
  auto bad = LoadDeployment(std::string(kMinimalCommand) +
                            "scale_settings: {type: default, min_instances: many}\n");
  EXPECT_EQ(ErrorTarget(bad.status()), "scale_settings.min_instances");
  // min > max is no error when the bounds are ignored.
  EXPECT_TRUE(LoadDeployment(std::string(kMinimalCommand) +
                             "scale_settings: {min_instances: 4, max_instances: 2}\n")
                  .ok());
}

TEST(YamlLoaderTest, ScaleSettingsErrorsNameTheField) {
  const std::string base =
      std::string(kMinimalCommand) + "scale_settings: {type: target_utilization, ";
  struct Case {
    std::string fields;
    std::string target;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"min_instances: 3, max_instances: 2", "scale_settings.max_instances",
            "max_instances (2) must be at least min_instances (3)"},
           {"min_instances: -1", "scale_settings.min_instances", ""},
           {"max_instances: 0", "scale_settings.max_instances", ""},
           {"max_instances: 51", "scale_settings.max_instances", ""},
           {"target_utilization_percentage: 0", "scale_settings.target_utilization_percentage", ""},
           {"target_utilization_percentage: 101", "scale_settings.target_utilization_percentage",
            ""},
           {"polling_interval: 0", "scale_settings.polling_interval", ""},
           {"scale_down_delay: -5", "scale_settings.scale_down_delay", ""},
           {"scale_down_delay: 1.5", "scale_settings.scale_down_delay", ""},
           {"scale_down_dely: 5", "scale_settings.scale_down_dely",
            "did you mean 'scale_down_delay'"},
       }) {
    auto parsed = LoadDeployment(base + c.fields + "}\n");
    ASSERT_FALSE(parsed.ok()) << c.fields;
    EXPECT_EQ(ErrorTarget(parsed.status()), c.target) << c.fields;
    EXPECT_THAT(Message(parsed.status()), HasSubstr(c.message)) << c.fields;
  }
}

TEST(YamlLoaderTest, RetryOnInstanceFailure) {
  auto absent = LoadDeployment(kMinimalCommand);
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_TRUE(absent->spec.request_settings.retry_on_instance_failure);
  auto off = LoadDeployment(std::string(kMinimalCommand) +
                            "request_settings: {retry_on_instance_failure: false}\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_FALSE(off->spec.request_settings.retry_on_instance_failure);
  EXPECT_NE(off->spec, absent->spec);
  json echoed = ToJson(off->spec);
  EXPECT_EQ(echoed["request_settings"]["retry_on_instance_failure"], false);
  EXPECT_EQ(ToJson(absent->spec)["request_settings"]["retry_on_instance_failure"], true);
  auto again = ParseDeploymentSpec(echoed);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec, off->spec);
  auto bad = LoadDeployment(std::string(kMinimalCommand) +
                            "request_settings: {retry_on_instance_failure: sometimes}\n");
  EXPECT_EQ(ErrorTarget(bad.status()), "request_settings.retry_on_instance_failure");
}

TEST(YamlLoaderTest, ScaleSettingsEchoRoundTrips) {
  auto manual = LoadDeployment(std::string(kMinimalCommand) + "instance_count: 2\n");
  ASSERT_TRUE(manual.ok()) << manual.status();
  json manual_doc = ToJson(manual->spec);
  EXPECT_EQ(manual_doc["scale_settings"], (json{{"type", "default"}}));
  auto manual_again = ParseDeploymentSpec(manual_doc);
  ASSERT_TRUE(manual_again.ok()) << manual_again.status();
  EXPECT_EQ(manual_again->spec, manual->spec);
  EXPECT_THAT(manual_again->warnings, IsEmpty());

  auto autoscaled = LoadDeployment(std::string(kMinimalCommand) +
                                   "instance_count: 7\n"
                                   "scale_settings: {type: target_utilization, min_instances: 0, "
                                   "max_instances: 4}\n");
  ASSERT_TRUE(autoscaled.ok()) << autoscaled.status();
  json doc = ToJson(autoscaled->spec);
  EXPECT_EQ(doc["scale_settings"], (json{{"type", "target_utilization"},
                                         {"min_instances", 0},
                                         {"max_instances", 4},
                                         {"target_utilization_percentage", 70},
                                         {"polling_interval", 1},
                                         {"scale_down_delay", 0}}));
  EXPECT_EQ(doc["instance_count"], 1);
  auto again = ParseDeploymentSpec(doc);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec, autoscaled->spec);
  // The echo's instance_count is what the deployment starts with: no warning.
  EXPECT_THAT(again->warnings, IsEmpty());
}

TEST(YamlLoaderTest, ScaleSettingsUpdateBySetAndByFile) {
  auto stored = LoadDeployment(std::string(kCustomCommandYaml) +
                               "scale_settings: {type: target_utilization, max_instances: 4}\n");
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto update = SetAssignmentsToUpdate({"scale_settings.min_instances=0",
                                        "scale_settings.scale_down_delay=45",
                                        "request_settings.retry_on_instance_failure=false"});
  ASSERT_TRUE(update.ok()) << update.status();
  auto merged = ParseDeploymentSpec(MergeSpec(ToJson(stored->spec), *update));
  ASSERT_TRUE(merged.ok()) << merged.status();
  const ScaleSettings& scale = merged->spec.scale_settings;
  EXPECT_EQ(scale.type, ScaleType::kTargetUtilization);
  EXPECT_EQ(scale.min_instances, 0);
  EXPECT_EQ(scale.max_instances, 4);  // kept
  EXPECT_EQ(scale.scale_down_delay_s, 45);
  EXPECT_FALSE(merged->spec.request_settings.retry_on_instance_failure);
  EXPECT_EQ(merged->spec.request_settings.request_timeout_ms, 3000);  // kept

  // A declarative update (update -f) merges scale_settings key by key.
  auto file = YamlToJson("scale_settings: {max_instances: 8}\n");
  ASSERT_TRUE(file.ok());
  auto declared = ParseDeploymentSpec(MergeSpec(ToJson(merged->spec), *file));
  ASSERT_TRUE(declared.ok()) << declared.status();
  EXPECT_EQ(declared->spec.scale_settings.max_instances, 8);
  EXPECT_EQ(declared->spec.scale_settings.min_instances, 0);

  // Back to manual scaling: the autoscale keys of the stored echo are ignored, with a warning.
  auto manual = SetAssignmentsToUpdate({"scale_settings.type=default", "instance_count=2"});
  ASSERT_TRUE(manual.ok());
  auto back = ParseDeploymentSpec(MergeSpec(ToJson(declared->spec), *manual));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->spec.scale_settings, ScaleSettings{});
  EXPECT_EQ(back->spec.instance_count, 2);
  EXPECT_THAT(back->warnings, Contains(HasSubstr("scale_settings: ")));

  auto bad = SetAssignmentsToUpdate({"scale_settings.max_instances=0"});
  ASSERT_TRUE(bad.ok());
  auto refused = ParseDeploymentSpec(MergeSpec(ToJson(stored->spec), *bad));
  EXPECT_EQ(ErrorTarget(refused.status()), "scale_settings.max_instances");
}

TEST(YamlLoaderTest, ResourceLimitsAreRead) {
  auto parsed = LoadDeployment(std::string(kMinimalCommand) + R"(
resources:
  requests: {cpu: "250m", memory: 64Mi}
  limits: {cpu: "1.5", memory: 512Mi}
)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.resource_limits.memory_bytes, 512ull << 20);
  EXPECT_EQ(parsed->spec.resource_limits.cpu_millis, 1500);
  EXPECT_TRUE(parsed->spec.egress_public_network_access);
  auto echoed = ToJson(parsed->spec);
  EXPECT_EQ(echoed["resources"]["limits"]["memory"], std::to_string(512ull << 20));
  EXPECT_EQ(echoed["resources"]["limits"]["cpu"], "1500m");

  auto plain = LoadDeployment(std::string(kMinimalCommand) +
                              "resources: {limits: {memory: 1G, cpu: 500m}}\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->spec.resource_limits.memory_bytes, 1000000000ull);
  EXPECT_EQ(plain->spec.resource_limits.cpu_millis, 500);

  auto bad_memory =
      LoadDeployment(std::string(kMinimalCommand) + "resources: {limits: {memory: lots}}\n");
  EXPECT_EQ(ErrorTarget(bad_memory.status()), "resources.limits.memory");
  auto bad_cpu = LoadDeployment(std::string(kMinimalCommand) + "resources: {limits: {cpu: -1}}\n");
  EXPECT_EQ(ErrorTarget(bad_cpu.status()), "resources.limits.cpu");
  auto bad_key =
      LoadDeployment(std::string(kMinimalCommand) + "resources: {limits: {disk: 1Gi}}\n");
  EXPECT_FALSE(bad_key.ok());
}

TEST(YamlLoaderTest, EchoedDeploymentOutputIsAccepted) {
  auto parsed = LoadDeployment(std::string(kMinimalCommand) + R"(
provisioning_state: Succeeded
reason: ""
warnings: []
instances: [{id: 1, state: Ready, port: 41234, pid: 123, restarts: 0}]
created_at: "2026-11-24T20:00:00Z"
updated_at: "2026-11-24T20:00:00Z"
)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
}

TEST(YamlLoaderTest, CodeConfigurationRules) {
  const std::string base = std::string(kMinimalCommand);
  auto no_script =
      LoadDeployment(base + "code_configuration: {code: ./src}\n", {.allow_local_paths = true});
  EXPECT_EQ(ErrorTarget(no_script.status()), "code_configuration.scoring_script");
  auto escaping =
      LoadDeployment(base + "code_configuration: {code: ./src, scoring_script: ../x.py}\n",
                     {.allow_local_paths = true});
  EXPECT_EQ(ErrorTarget(escaping.status()), "code_configuration.scoring_script");
  auto ok =
      LoadDeployment(base + "code_configuration: {code: ./src, scoring_script: app/score.py}\n",
                     {.allow_local_paths = true});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->spec.code_configuration->scoring_script, "app/score.py");
}

TEST(YamlLoaderTest, UpdateWithoutTrafficKeepsTraffic) {
  auto stored = LoadEndpoint("name: my-endpoint\ntraffic: {blue: 100}\n");
  ASSERT_TRUE(stored.ok());
  auto update = YamlToJson("name: my-endpoint\ndescription: now with a description\n");
  ASSERT_TRUE(update.ok());
  auto merged = ParseEndpointSpec(MergeSpec(ToJson(stored->spec), *update));
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->spec.traffic, (std::map<std::string, int>{{"blue", 100}}));
  EXPECT_EQ(merged->spec.description, "now with a description");
}

TEST(YamlLoaderTest, TrafficUpdateReplacesTheWholeRule) {
  auto stored = LoadEndpoint("name: my-endpoint\ntraffic: {blue: 100}\n");
  ASSERT_TRUE(stored.ok());
  auto update = YamlToJson("traffic: {green: 100}\n");
  ASSERT_TRUE(update.ok());
  auto merged = ParseEndpointSpec(MergeSpec(ToJson(stored->spec), *update));
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->spec.traffic, (std::map<std::string, int>{{"green", 100}}));
}

TEST(YamlLoaderTest, SetAssignmentsPatchAStoredDeployment) {
  auto stored = LoadDeployment(kCustomCommandYaml);
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto update = SetAssignmentsToUpdate({"request_settings.max_concurrent_requests_per_instance=4",
                                        "environment_variables.WORKER_COUNT=8",
                                        "environment_variables.VERBOSE=", "instance_count=3"});
  ASSERT_TRUE(update.ok()) << update.status();
  auto merged = ParseDeploymentSpec(MergeSpec(ToJson(stored->spec), *update));
  ASSERT_TRUE(merged.ok()) << merged.status();
  const DeploymentSpec& spec = merged->spec;
  EXPECT_EQ(spec.request_settings.max_concurrent_requests_per_instance, 4);
  EXPECT_EQ(spec.request_settings.request_timeout_ms, 3000);  // kept
  EXPECT_EQ(spec.instance_count, 3);
  EXPECT_EQ(spec.environment_variables.at("WORKER_COUNT"), "8");
  EXPECT_EQ(spec.environment_variables.count("VERBOSE"), 0u);  // null removed it
  EXPECT_EQ(spec.environment_variables.at("RATIO"), "0.5");    // merged, not replaced
  EXPECT_EQ(spec.environment.command, stored->spec.environment.command);

  auto bad = SetAssignmentsToUpdate({"request_settings.request_timeout_ms=fast"});
  ASSERT_TRUE(bad.ok());
  auto refused = ParseDeploymentSpec(MergeSpec(ToJson(stored->spec), *bad));
  EXPECT_EQ(ErrorTarget(refused.status()), "request_settings.request_timeout_ms");
}

TEST(YamlLoaderTest, DeploymentRoundTripsThroughToJson) {
  auto parsed = LoadDeployment(kCustomCommandYaml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  json doc = ToJson(parsed->spec);
  EXPECT_EQ(doc["request_settings"]["max_queue_wait_ms"], 500);
  EXPECT_EQ(doc["liveness_probe"]["failure_threshold"], 30);
  EXPECT_EQ(doc["model"]["version"], "2");
  auto again = ParseDeploymentSpec(doc);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec, parsed->spec);
}

}  // namespace
}  // namespace berth::core
