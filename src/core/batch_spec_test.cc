// Unit tests of the batch documents: endpoints, deployments (both layouts), computes, data
// assets, datastore paths and job requests (both body shapes).

#include "core/batch_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/errors.h"

namespace berth::core {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kDigest[] =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::string Message(const absl::Status& status) { return std::string(status.message()); }

// The error's target when `status` is INVALID_ARGUMENT, else a text that fails comparisons.
template <typename T>
std::string TargetOf(const absl::StatusOr<T>& result) {
  if (result.ok()) return "<ok>";
  if (result.status().code() != absl::StatusCode::kInvalidArgument) {
    return "<" + result.status().ToString() + ">";
  }
  return ErrorTarget(result.status());
}

json Artifact(bool is_file) {
  return {{"digest", kDigest}, {"base_name", is_file ? "x.csv" : "data"}, {"is_file", is_file}};
}

// ---------------------------------------------------------------------------------------------
// Batch endpoints.

TEST(BatchEndpointTest, Defaults) {
  auto parsed = ParseBatchEndpointSpec(json{{"name", "heart"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.name, "heart");
  EXPECT_EQ(parsed->spec.auth_mode, "aad_token");
  EXPECT_EQ(parsed->spec.default_deployment, "");
}

TEST(BatchEndpointTest, ReadsDefaultsAndIgnoresReadOnlyFields) {
  json doc = {{"$schema", "https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json"},
              {"name", "heart"},
              {"description", "d"},
              {"tags", {{"k", "v"}}},
              {"auth_mode", "aad_token"},
              {"defaults", {{"deployment_name", "classifier"}}},
              {"id", "x"},
              {"provisioning_state", "Succeeded"},
              {"scoring_uri", "http://h/batch-endpoints/heart/jobs"},
              {"created_at", "t"},
              {"updated_at", "t"},
              {"location", "local"}};
  auto parsed = ParseBatchEndpointSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.default_deployment, "classifier");
  EXPECT_EQ(parsed->spec.tags.at("k"), "v");
}

TEST(BatchEndpointTest, AuthModeOnlyAadToken) {
  auto parsed = ParseBatchEndpointSpec(json{{"name", "heart"}, {"auth_mode", "key"}});
  EXPECT_EQ(TargetOf(parsed), "auth_mode");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("only value"));
  EXPECT_THAT(Message(parsed.status()), HasSubstr("aad_token"));
}

TEST(BatchEndpointTest, NameRule) {
  EXPECT_EQ(TargetOf(ParseBatchEndpointSpec(json{{"name", "1bad"}})), "name");
  EXPECT_EQ(TargetOf(ParseBatchEndpointSpec(json::object())), "name");
}

TEST(BatchEndpointTest, DefaultDeploymentNameRule) {
  auto parsed =
      ParseBatchEndpointSpec(json{{"name", "heart"}, {"defaults", {{"deployment_name", "a b"}}}});
  EXPECT_EQ(TargetOf(parsed), "defaults.deployment_name");
  EXPECT_TRUE(
      ParseBatchEndpointSpec(json{{"name", "heart"}, {"defaults", {{"deployment_name", ""}}}})
          .ok());
}

TEST(BatchEndpointTest, UnknownFieldSuggestsClosest) {
  auto parsed = ParseBatchEndpointSpec(json{{"name", "heart"}, {"defualts", json::object()}});
  EXPECT_EQ(TargetOf(parsed), "defualts");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("did you mean 'defaults'"));
}

TEST(BatchEndpointTest, RoundTrip) {
  BatchEndpointSpec spec;
  spec.name = "heart";
  spec.description = "d";
  spec.tags = {{"a", "b"}};
  spec.default_deployment = "classifier";
  auto parsed = ParseBatchEndpointSpec(ToJson(spec));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec, spec);
}

// ---------------------------------------------------------------------------------------------
// Batch deployments.

json Deployment() {
  return {{"name", "classifier"},
          {"endpoint_name", "heart"},
          {"type", "model"},
          {"model", "azureml:heart-classifier:1"}};
}

TEST(BatchDeploymentTest, Defaults) {
  auto parsed = ParseBatchDeploymentSpec(Deployment());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const BatchDeploymentSpec& spec = parsed->spec;
  EXPECT_EQ(spec.instance_count, 1);
  EXPECT_EQ(spec.compute, "");
  EXPECT_FALSE(spec.code_configuration.has_value());
  ASSERT_TRUE(spec.model.has_value());
  EXPECT_EQ(spec.model->name, "heart-classifier");
  EXPECT_EQ(spec.model->version, "1");
  EXPECT_EQ(spec.model->reference, "azureml:heart-classifier:1");
  EXPECT_EQ(spec.settings, BatchSettings{});
  EXPECT_EQ(spec.settings.max_concurrency_per_instance, 1);
  EXPECT_EQ(spec.settings.mini_batch_size, 10);
  EXPECT_EQ(spec.settings.output_action, OutputAction::kAppendRow);
  EXPECT_EQ(spec.settings.output_file_name, "predictions.csv");
  EXPECT_EQ(spec.settings.retry_settings.max_retries, 3);
  EXPECT_EQ(spec.settings.retry_settings.timeout_s, 30);
  EXPECT_EQ(spec.settings.error_threshold, -1);
  EXPECT_EQ(spec.settings.logging_level, "info");
}

TEST(BatchDeploymentTest, ReadsAzureExample) {
  json doc = Deployment();
  doc["model"] = {
      {"name", "mnist-classifier-torch"}, {"path", "model"}, {"artifact", Artifact(false)}};
  doc["code_configuration"] = {
      {"code", "code"}, {"scoring_script", "batch_driver.py"}, {"artifact", Artifact(false)}};
  doc["environment"] = {{"name", "batch-torch-py38"}, {"conda_file", "environment/conda.yaml"}};
  doc["compute"] = "azureml:batch-cluster";
  doc["resources"] = {{"instance_count", 2}};
  doc["settings"] = {{"max_concurrency_per_instance", 2},
                     {"mini_batch_size", 5},
                     {"output_action", "append_row"},
                     {"output_file_name", "out.csv"},
                     {"retry_settings", {{"max_retries", 1}, {"timeout", 60}}},
                     {"error_threshold", 10},
                     {"logging_level", "DEBUG"},
                     {"environment_variables", {{"K", "V"}}}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const BatchDeploymentSpec& spec = parsed->spec;
  EXPECT_EQ(spec.compute, "batch-cluster");
  EXPECT_EQ(spec.instance_count, 2);
  EXPECT_EQ(spec.model->name, "mnist-classifier-torch");
  EXPECT_EQ(spec.code_configuration->scoring_script, "batch_driver.py");
  EXPECT_EQ(spec.settings.max_concurrency_per_instance, 2);
  EXPECT_EQ(spec.settings.mini_batch_size, 5);
  EXPECT_EQ(spec.settings.output_file_name, "out.csv");
  EXPECT_EQ(spec.settings.retry_settings, (BatchRetrySettings{1, 60}));
  EXPECT_EQ(spec.settings.error_threshold, 10);
  EXPECT_EQ(spec.settings.logging_level, "debug");
  EXPECT_EQ(spec.settings.environment_variables.at("K"), "V");
}

TEST(BatchDeploymentTest, InlineModelNamedAfterEndpointAndDeployment) {
  json doc = Deployment();
  doc["model"] = {{"path", "model"}, {"artifact", Artifact(false)}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.model->name, "heart-classifier");
  EXPECT_EQ(parsed->spec.model->version, "1");
}

TEST(BatchDeploymentTest, LocalModelPathNeedsUploadOnServer) {
  json doc = Deployment();
  doc["model"] = {{"path", "model"}};
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "model.path");
  EXPECT_TRUE(ParseBatchDeploymentSpec(doc, {.allow_local_paths = true}).ok());
}

TEST(BatchDeploymentTest, BareComputeName) {
  json doc = Deployment();
  doc["compute"] = "cpu-cluster";
  auto parsed = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.compute, "cpu-cluster");
  doc["compute"] = "azureml:x";
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "compute");
}

TEST(BatchDeploymentTest, ModelRequired) {
  json doc = Deployment();
  doc.erase("model");
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "model");
}

TEST(BatchDeploymentTest, CodeConfigurationNeedsScoringScript) {
  json doc = Deployment();
  doc["code_configuration"] = {{"code", "code"}, {"artifact", Artifact(false)}};
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "code_configuration.scoring_script");
}

TEST(BatchDeploymentTest, ServingCommandRefused) {
  json doc = Deployment();
  doc["environment"] = {{"command", "serve --port {port}"}};
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "environment.command");
}

TEST(BatchDeploymentTest, PipelineTypeRefused) {
  json doc = Deployment();
  doc["type"] = "pipeline";
  auto parsed = ParseBatchDeploymentSpec(doc);
  EXPECT_EQ(TargetOf(parsed), "type");
  EXPECT_THAT(Message(parsed.status()),
              HasSubstr("pipeline component deployments are not supported"));
  doc["type"] = "other";
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "type");
}

TEST(BatchDeploymentTest, RangesNameTheSettingsPath) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"mini_batch_size", 0}}, "settings.mini_batch_size"},
      {{{"max_concurrency_per_instance", 0}}, "settings.max_concurrency_per_instance"},
      {{{"error_threshold", -2}}, "settings.error_threshold"},
      {{{"retry_settings", {{"max_retries", -1}}}}, "settings.retry_settings.max_retries"},
      {{{"retry_settings", {{"timeout", 0}}}}, "settings.retry_settings.timeout"},
      {{{"retry_settings", {{"timeout", "30s"}}}}, "settings.retry_settings.timeout"},
      {{{"logging_level", "verbose"}}, "settings.logging_level"},
      {{{"output_action", "append"}}, "settings.output_action"},
      {{{"output_file_name", "a/b.csv"}}, "settings.output_file_name"},
      {{{"output_file_name", ".."}}, "settings.output_file_name"},
      {{{"output_file_name", ""}}, "settings.output_file_name"},
      {{{"environment_variables", {{"A=B", "x"}}}}, "settings.environment_variables"},
  };
  for (const auto& [settings, target] : cases) {
    json doc = Deployment();
    doc["settings"] = settings;
    EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), target) << settings.dump();
  }
  json doc = Deployment();
  doc["resources"] = {{"instance_count", 0}};
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "resources.instance_count");
}

TEST(BatchDeploymentTest, MaxConcurrencyCappedWithAClearMessage) {
  json doc = Deployment();
  doc["settings"] = {{"max_concurrency_per_instance", 64}};
  EXPECT_TRUE(ParseBatchDeploymentSpec(doc).ok());
  doc["settings"] = {{"max_concurrency_per_instance", 65}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  EXPECT_EQ(TargetOf(parsed), "settings.max_concurrency_per_instance");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("at most 64 worker processes per instance"));
}

TEST(BatchDeploymentTest, TimeoutAsIsoDuration) {
  const std::vector<std::pair<json, int>> cases = {
      {"PT30S", 30}, {"PT5M", 300}, {"PT1H30M", 5400}, {"P1D", 86400}, {"pt2m10s", 130}, {45, 45}};
  for (const auto& [timeout, seconds] : cases) {
    json doc = Deployment();
    doc["settings"] = {{"retry_settings", {{"timeout", timeout}}}};
    auto parsed = ParseBatchDeploymentSpec(doc);
    ASSERT_TRUE(parsed.ok()) << timeout.dump() << ": " << parsed.status();
    EXPECT_EQ(parsed->spec.settings.retry_settings.timeout_s, seconds) << timeout.dump();
  }
  for (const json& bad : {json("PT"), json("P"), json("PT0S"), json("PT1.5S"), json("P1W")}) {
    json doc = Deployment();
    doc["settings"] = {{"retry_settings", {{"timeout", bad}}}};
    EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "settings.retry_settings.timeout")
        << bad.dump();
  }
}

TEST(BatchDeploymentTest, OutputActionSpellings) {
  for (const char* spelling : {"summary_only", "SummaryOnly", "SUMMARY_ONLY"}) {
    json doc = Deployment();
    doc["settings"] = {{"output_action", spelling}};
    auto parsed = ParseBatchDeploymentSpec(doc);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->spec.settings.output_action, OutputAction::kSummaryOnly);
  }
  json doc = Deployment();
  doc["settings"] = {{"output_action", "AppendRow"}};
  EXPECT_EQ(ParseBatchDeploymentSpec(doc)->spec.settings.output_action, OutputAction::kAppendRow);
}

TEST(BatchDeploymentTest, OutputFileNameWithSummaryOnlyRefusedOnlyWhenGiven) {
  json doc = Deployment();
  doc["settings"] = {{"output_action", "summary_only"}, {"output_file_name", "out.csv"}};
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "settings.output_file_name");
  doc["settings"].erase("output_file_name");
  EXPECT_TRUE(ParseBatchDeploymentSpec(doc).ok());
}

TEST(BatchDeploymentTest, UnknownSettingSuggestsClosest) {
  json doc = Deployment();
  doc["settings"] = {{"mini_batch_sise", 3}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  EXPECT_EQ(TargetOf(parsed), "settings.mini_batch_sise");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("did you mean 'mini_batch_size'"));
}

TEST(BatchDeploymentTest, IgnoresReadOnlyFields) {
  json doc = Deployment();
  for (const char* key : {"id", "provisioning_state", "created_at", "updated_at", "generation",
                          "$schema", "location", "reason", "warnings"}) {
    doc[key] = "x";
  }
  EXPECT_TRUE(ParseBatchDeploymentSpec(doc).ok());
}

TEST(BatchDeploymentTest, LegacyLayoutSettingsAtTheRoot) {
  json doc = Deployment();
  doc.erase("type");
  doc["mini_batch_size"] = 4;
  doc["instance_count"] = 3;
  doc["retry_settings"] = {{"max_retries", 2}, {"timeout", 90}};
  doc["output_action"] = "summary_only";
  doc["environment_variables"] = {{"K", "V"}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.settings.mini_batch_size, 4);
  EXPECT_EQ(parsed->spec.instance_count, 3);
  EXPECT_EQ(parsed->spec.settings.retry_settings, (BatchRetrySettings{2, 90}));
  EXPECT_EQ(parsed->spec.settings.output_action, OutputAction::kSummaryOnly);
  EXPECT_EQ(parsed->spec.settings.environment_variables.at("K"), "V");
}

TEST(BatchDeploymentTest, LegacyErrorsNameTheRootPath) {
  json doc = Deployment();
  doc.erase("type");
  doc["mini_batch_size"] = 0;
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "mini_batch_size");
  doc["mini_batch_size"] = 1;
  doc["retry_settings"] = {{"timeout", -1}};
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "retry_settings.timeout");
}

TEST(BatchDeploymentTest, LegacyInstanceCountUnderResources) {
  json doc = Deployment();
  doc.erase("type");
  doc["mini_batch_size"] = 4;
  doc["resources"] = {{"instance_count", 2}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.instance_count, 2);
  doc["instance_count"] = 3;
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(doc)), "instance_count");
}

TEST(BatchDeploymentTest, MixedLayoutsRefused) {
  json typed = Deployment();
  typed["mini_batch_size"] = 4;
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(typed)), "mini_batch_size");
  json with_settings = Deployment();
  with_settings.erase("type");
  with_settings["settings"] = {{"mini_batch_size", 4}};
  with_settings["error_threshold"] = 3;
  auto parsed = ParseBatchDeploymentSpec(with_settings);
  EXPECT_EQ(TargetOf(parsed), "error_threshold");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("mix"));
  json root_count = Deployment();
  root_count["instance_count"] = 2;
  EXPECT_EQ(TargetOf(ParseBatchDeploymentSpec(root_count)), "instance_count");
}

TEST(BatchDeploymentTest, RoundTrip) {
  json doc = Deployment();
  doc["model"] = {
      {"name", "m"}, {"version", "3"}, {"path", "model"}, {"artifact", Artifact(false)}};
  doc["code_configuration"] = {
      {"code", "code"}, {"scoring_script", "score.py"}, {"artifact", Artifact(false)}};
  doc["environment"] = {{"conda_file", "conda.yaml"}, {"python", "/usr/bin/python3"}};
  doc["compute"] = "azureml:cluster";
  doc["description"] = "d";
  doc["tags"] = {{"a", "b"}};
  doc["resources"] = {{"instance_count", 2}};
  doc["settings"] = {{"mini_batch_size", 3},
                     {"retry_settings", {{"timeout", "PT1M"}}},
                     {"environment_variables", {{"K", "V"}}}};
  auto first = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = ParseBatchDeploymentSpec(ToJson(first->spec));
  ASSERT_TRUE(second.ok()) << second.status() << " " << ToJson(first->spec).dump();
  EXPECT_EQ(second->spec, first->spec);
}

TEST(BatchDeploymentTest, RoundTripSummaryOnly) {
  json doc = Deployment();
  doc["settings"] = {{"output_action", "summary_only"}};
  auto first = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(first.ok()) << first.status();
  json shown = ToJson(first->spec);
  EXPECT_FALSE(shown["settings"].contains("output_file_name"));
  auto second = ParseBatchDeploymentSpec(shown);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->spec, first->spec);
}

TEST(BatchDeploymentTest, NormalizeMovesLegacyFields) {
  json legacy = {{"mini_batch_size", 4},
                 {"instance_count", 2},
                 {"logging_level", "debug"},
                 {"error_threshold", nullptr},
                 {"description", "d"}};
  auto normal = NormalizeBatchDeploymentDocument(legacy);
  ASSERT_TRUE(normal.ok()) << normal.status();
  EXPECT_EQ(
      *normal,
      (json{{"type", "model"},
            {"description", "d"},
            {"settings",
             {{"mini_batch_size", 4}, {"logging_level", "debug"}, {"error_threshold", nullptr}}},
            {"resources", {{"instance_count", 2}}}}));
}

TEST(BatchDeploymentTest, NormalizeKeepsCurrentLayout) {
  json current = {{"settings", {{"mini_batch_size", 4}}}};
  auto normal = NormalizeBatchDeploymentDocument(current);
  ASSERT_TRUE(normal.ok()) << normal.status();
  EXPECT_EQ(*normal, (json{{"type", "model"}, {"settings", {{"mini_batch_size", 4}}}}));
}

TEST(BatchDeploymentTest, NormalizeRefusesMixedLayouts) {
  EXPECT_EQ(
      TargetOf(NormalizeBatchDeploymentDocument(json{{"type", "model"}, {"mini_batch_size", 4}})),
      "mini_batch_size");
  EXPECT_EQ(TargetOf(NormalizeBatchDeploymentDocument(json{{"type", "pipeline"}})), "type");
  EXPECT_EQ(TargetOf(NormalizeBatchDeploymentDocument(json::array())), "");
}

TEST(BatchDeploymentTest, NormalizedLegacyDocumentParsesEqual) {
  json doc = Deployment();
  doc.erase("type");
  doc["mini_batch_size"] = 4;
  doc["instance_count"] = 3;
  auto normal = NormalizeBatchDeploymentDocument(doc);
  ASSERT_TRUE(normal.ok()) << normal.status();
  auto from_legacy = ParseBatchDeploymentSpec(doc);
  auto from_normal = ParseBatchDeploymentSpec(*normal);
  ASSERT_TRUE(from_legacy.ok() && from_normal.ok());
  EXPECT_EQ(from_legacy->spec, from_normal->spec);
}

TEST(BatchDeploymentTest, WorkerDeploymentSpec) {
  json doc = Deployment();
  doc["code_configuration"] = {
      {"code", "code"}, {"scoring_script", "score.py"}, {"artifact", Artifact(false)}};
  doc["resources"] = {{"instance_count", 4}};
  doc["settings"] = {{"environment_variables", {{"K", "V"}}}};
  auto parsed = ParseBatchDeploymentSpec(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  DeploymentSpec worker = WorkerDeploymentSpec(parsed->spec);
  EXPECT_EQ(worker.name, "classifier");
  EXPECT_EQ(worker.endpoint_name, "heart");
  EXPECT_EQ(worker.model, parsed->spec.model);
  EXPECT_EQ(worker.code_configuration, parsed->spec.code_configuration);
  EXPECT_EQ(worker.environment_variables.at("K"), "V");
  EXPECT_EQ(worker.instance_count, 1);
  EXPECT_TRUE(worker.egress_public_network_access);
  EXPECT_EQ(ServingKindOf(worker), ServingKind::kScoringScript);
}

// ---------------------------------------------------------------------------------------------
// Compute clusters.

TEST(ComputeTest, Defaults) {
  auto parsed = ParseComputeSpec(json{{"name", "cpu-cluster"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->spec.type, "amlcompute");
  EXPECT_EQ(parsed->spec.size, "Standard_DS3_v2");
  EXPECT_EQ(parsed->spec.min_instances, 0);
  EXPECT_EQ(parsed->spec.max_instances, 4);
  EXPECT_EQ(parsed->spec.idle_time_before_scale_down, 120);
  EXPECT_EQ(parsed->spec.tier, ComputeTier::kDedicated);
}

TEST(ComputeTest, TierSpellings) {
  for (const char* tier : {"low_priority", "LowPriority", "LOW_PRIORITY"}) {
    auto parsed = ParseComputeSpec(json{{"name", "c1"}, {"tier", tier}});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->spec.tier, ComputeTier::kLowPriority);
  }
  EXPECT_EQ(ParseComputeSpec(json{{"name", "c1"}, {"tier", "Dedicated"}})->spec.tier,
            ComputeTier::kDedicated);
  EXPECT_EQ(TargetOf(ParseComputeSpec(json{{"name", "c1"}, {"tier", "spot"}})), "tier");
}

TEST(ComputeTest, OnlyAmlCompute) {
  EXPECT_TRUE(ParseComputeSpec(json{{"name", "c1"}, {"type", "AmlCompute"}}).ok());
  auto parsed = ParseComputeSpec(json{{"name", "c1"}, {"type", "kubernetes"}});
  EXPECT_EQ(TargetOf(parsed), "type");
  EXPECT_THAT(Message(parsed.status()), HasSubstr("not supported"));
}

TEST(ComputeTest, NameRule) {
  for (const char* bad : {"c", "1cluster", "cluster_1", "a-very-long-cluster-name"}) {
    EXPECT_EQ(TargetOf(ParseComputeSpec(json{{"name", bad}})), "name") << bad;
  }
  EXPECT_TRUE(ParseComputeSpec(json{{"name", "ab"}}).ok());
  EXPECT_TRUE(ParseComputeSpec(json{{"name", "a234567890123456"}}).ok());
}

TEST(ComputeTest, InstanceRanges) {
  EXPECT_EQ(TargetOf(ParseComputeSpec(json{{"name", "c1"}, {"min_instances", -1}})),
            "min_instances");
  EXPECT_EQ(TargetOf(ParseComputeSpec(json{{"name", "c1"}, {"max_instances", 0}})),
            "max_instances");
  EXPECT_EQ(
      TargetOf(ParseComputeSpec(json{{"name", "c1"}, {"min_instances", 3}, {"max_instances", 2}})),
      "max_instances");
}

TEST(ComputeTest, RoundTrip) {
  auto parsed = ParseComputeSpec(json{{"name", "c1"},
                                      {"size", "STANDARD_D2_V2"},
                                      {"min_instances", 1},
                                      {"max_instances", 8},
                                      {"idle_time_before_scale_down", 60},
                                      {"tier", "low_priority"},
                                      {"location", "westeurope"},
                                      {"description", "d"},
                                      {"tags", {{"a", "b"}}},
                                      {"id", "ignored"}});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto again = ParseComputeSpec(ToJson(parsed->spec));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->spec, parsed->spec);
}

// ---------------------------------------------------------------------------------------------
// Data assets and references.

json Data() { return {{"name", "heart-data"}, {"path", "data"}, {"artifact", Artifact(false)}}; }

TEST(DataAssetTest, Defaults) {
  auto asset = ParseDataAsset(Data());
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_EQ(asset->type, DataType::kUriFolder);
  EXPECT_EQ(asset->version, "");
  EXPECT_FALSE(asset->archived);
}

TEST(DataAssetTest, VersionRules) {
  json doc = Data();
  doc["version"] = 2;
  EXPECT_EQ(ParseDataAsset(doc)->version, "2");
  doc["version"] = "latest";
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "version");
  doc["version"] = "a b";
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "version");
  EXPECT_EQ(
      TargetOf(ParseDataAsset(json{{"name", "-x"}, {"path", "azureml://datastores/s/paths/p"}})),
      "name");
}

TEST(DataAssetTest, MltableRefused) {
  json doc = Data();
  doc["type"] = "mltable";
  auto asset = ParseDataAsset(doc);
  EXPECT_EQ(TargetOf(asset), "type");
  EXPECT_THAT(Message(asset.status()), HasSubstr("only uri_file and uri_folder"));
}

TEST(DataAssetTest, PathRequired) {
  EXPECT_EQ(TargetOf(ParseDataAsset(json{{"name", "d"}})), "path");
}

TEST(DataAssetTest, LocalPathNeedsArtifactOnServer) {
  json doc = {{"name", "d"}, {"path", "./data"}};
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "path");
  EXPECT_TRUE(ParseDataAsset(doc, {.allow_local_paths = true}).ok());
}

TEST(DataAssetTest, DatastorePathNeedsNoArtifact) {
  json doc = {{"name", "d"}, {"path", "azureml://datastores/workspaceblobstore/paths/heart/"}};
  auto asset = ParseDataAsset(doc);
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_EQ(asset->path, "azureml://datastores/workspaceblobstore/paths/heart/");
  doc["path"] = "azureml://datastores/workspaceblobstore/paths/../x";
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "path");
  doc["path"] = "https://example.com/data.csv";
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "path");
}

TEST(DataAssetTest, ArtifactKindMatchesType) {
  json doc = Data();
  doc["type"] = "uri_file";
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "type");
  doc["artifact"] = Artifact(true);
  EXPECT_TRUE(ParseDataAsset(doc).ok());
  doc["type"] = "uri_folder";
  EXPECT_EQ(TargetOf(ParseDataAsset(doc)), "type");
}

TEST(DataAssetTest, RoundTripWithArchived) {
  json doc = Data();
  doc["version"] = "3";
  doc["description"] = "d";
  doc["tags"] = {{"a", "b"}};
  doc["archived"] = true;
  doc["created_at"] = "t";
  auto asset = ParseDataAsset(doc);
  ASSERT_TRUE(asset.ok()) << asset.status();
  EXPECT_TRUE(asset->archived);
  auto again = ParseDataAsset(ToJson(*asset));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *asset);
}

TEST(DataTypeTest, Names) {
  EXPECT_STREQ(DataTypeName(DataType::kUriFolder), "uri_folder");
  EXPECT_STREQ(DataTypeName(DataType::kUriFile), "uri_file");
  EXPECT_EQ(ParseDataType("uri_file"), DataType::kUriFile);
  EXPECT_EQ(ParseDataType("UriFolder"), DataType::kUriFolder);
  EXPECT_EQ(ParseDataType("mltable"), std::nullopt);
}

TEST(DataReferenceTest, VersionAndLatest) {
  auto versioned = ParseDataReference("azureml:heart-data:1", "input.path");
  ASSERT_TRUE(versioned.ok()) << versioned.status();
  EXPECT_EQ(*versioned, (AssetReference{"heart-data", "1"}));
  auto latest = ParseDataReference("azureml:heart-data@latest", "input.path");
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(*latest, (AssetReference{"heart-data", ""}));
  for (const char* bad : {"heart-data:1", "azureml:heart-data", "azureml:x:latest", "azureml:"}) {
    EXPECT_EQ(TargetOf(ParseDataReference(bad, "input.path")), "input.path") << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Datastore paths.

TEST(DatastorePathTest, Parses) {
  auto path = ParseDatastorePath("azureml://datastores/workspaceblobstore/paths/a/b", "f");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, (DatastorePath{"workspaceblobstore", "a/b"}));
  EXPECT_TRUE(IsDatastoreUri("azureml://datastores/x/paths/"));
  EXPECT_FALSE(IsDatastoreUri("azureml:heart:1"));
}

TEST(DatastorePathTest, Normalises) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"azureml://datastores/s/paths/a//b/./c/", "a/b/c"},
      {"azureml://datastores/s/paths//abs/x", "abs/x"},
      {"azureml://datastores/s/paths/", ""},
      {"azureml://datastores/s/paths", ""},
  };
  for (const auto& [uri, normal] : cases) {
    auto path = ParseDatastorePath(uri, "f");
    ASSERT_TRUE(path.ok()) << uri << ": " << path.status();
    EXPECT_EQ(path->path, normal) << uri;
  }
}

TEST(DatastorePathTest, RefusesClimbingOut) {
  for (const char* uri :
       {"azureml://datastores/s/paths/..", "azureml://datastores/s/paths/a/../../b",
        "azureml://datastores/s/paths/a/.."}) {
    auto path = ParseDatastorePath(uri, "output_path");
    EXPECT_EQ(TargetOf(path), "output_path") << uri;
    EXPECT_THAT(Message(path.status()), HasSubstr("climbs out of the datastore")) << uri;
  }
}

TEST(DatastorePathTest, RefusesMalformed) {
  for (const char* uri :
       {"azureml://datastores/", "azureml://datastores/s", "azureml://datastores/s/x/a",
        "azureml://datastores/Bad-Name/paths/a", "/local/path", "azureml://datastores//paths/a"}) {
    EXPECT_EQ(TargetOf(ParseDatastorePath(uri, "f")), "f") << uri;
  }
}

TEST(DatastorePathTest, UriRoundTrips) {
  for (const DatastorePath& path :
       {DatastorePath{"workspaceblobstore", "results/run-7"}, DatastorePath{"s_1", ""}}) {
    auto again = ParseDatastorePath(DatastoreUri(path), "f");
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, path);
  }
  EXPECT_EQ(DatastoreUri({"s", "a/b"}), "azureml://datastores/s/paths/a/b");
}

// ---------------------------------------------------------------------------------------------
// Job requests.

json BerthJob() { return {{"input", {{"type", "uri_folder"}, {"path", "azureml:heart-data:1"}}}}; }

TEST(JobRequestTest, BerthShapeMinimal) {
  auto request = ParseJobRequest(BerthJob(), "");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->input.type, DataType::kUriFolder);
  EXPECT_EQ(request->input.path, "azureml:heart-data:1");
  EXPECT_EQ(request->overrides, JobOverrides{});
  EXPECT_EQ(request->priority, std::nullopt);
  EXPECT_EQ(request->name, "");
  EXPECT_EQ(request->output_path, "");
}

TEST(JobRequestTest, BerthShapeFull) {
  json body = {{"name", "job-1"},
               {"deployment", "classifier"},
               {"input", {{"type", "uri_folder"}, {"path", "azureml:heart-data@latest"}}},
               {"output_path", "azureml://datastores/workspaceblobstore/paths/results/run-7/"},
               {"settings",
                {{"mini_batch_size", 5},
                 {"instance_count", 2},
                 {"max_concurrency_per_instance", 2},
                 {"retry_settings", {{"max_retries", 1}, {"timeout", 60}}},
                 {"error_threshold", 10},
                 {"output_file_name", "out.csv"},
                 {"logging_level", "debug"},
                 {"environment_variables", {{"K", "V"}}}}},
               {"priority", "low"},
               {"experiment_name", "exp"},
               {"description", "d"},
               {"tags", {{"a", "b"}}}};
  auto request = ParseJobRequest(body, "");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->name, "job-1");
  EXPECT_EQ(request->deployment, "classifier");
  EXPECT_EQ(request->output_path, "azureml://datastores/workspaceblobstore/paths/results/run-7");
  EXPECT_EQ(request->overrides, (JobOverrides{.mini_batch_size = 5,
                                              .instance_count = 2,
                                              .max_concurrency_per_instance = 2,
                                              .max_retries = 1,
                                              .timeout_s = 60,
                                              .error_threshold = 10,
                                              .output_file_name = "out.csv",
                                              .logging_level = "debug",
                                              .environment_variables = {{"K", "V"}}}));
  EXPECT_EQ(request->priority, JobPriority::kLow);
  EXPECT_EQ(request->experiment_name, "exp");

  auto again = ParseJobRequest(ToJson(*request), "");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *request);
}

TEST(JobRequestTest, HeaderWinsOverBodyDeployment) {
  json body = BerthJob();
  body["deployment"] = "blue";
  auto request = ParseJobRequest(body, "green");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->deployment, "green");
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "no good")), "azureml-model-deployment");
}

TEST(JobRequestTest, LocalInputNeedsArtifact) {
  json body = {{"input", {{"type", "uri_folder"}, {"path", "./data"}}}};
  auto request = ParseJobRequest(body, "");
  EXPECT_EQ(TargetOf(request), "input.artifact");
  EXPECT_THAT(Message(request.status()), HasSubstr("uploaded first"));
  body["input"]["artifact"] = Artifact(false);
  auto uploaded = ParseJobRequest(body, "");
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->input.path, "./data");
  EXPECT_TRUE(uploaded->input.artifact.has_value());
  auto again = ParseJobRequest(ToJson(*uploaded), "");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *uploaded);
}

TEST(JobRequestTest, InputArtifactMatchesType) {
  json body = {
      {"input", {{"type", "uri_file"}, {"path", "./data"}, {"artifact", Artifact(false)}}}};
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "input.type");
}

TEST(JobRequestTest, ArtifactOnlyWithLocalPath) {
  json body = BerthJob();
  body["input"]["artifact"] = Artifact(false);
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "input.artifact");
}

TEST(JobRequestTest, InputPathRequired) {
  EXPECT_EQ(TargetOf(ParseJobRequest(json{{"input", {{"type", "uri_folder"}}}}, "")), "input.path");
  EXPECT_EQ(TargetOf(ParseJobRequest(json::object(), "")), "input");
}

TEST(JobRequestTest, DatastoreInputValidated) {
  json body = {{"input", {{"path", "azureml://datastores/store/paths/in/../../x"}}}};
  auto request = ParseJobRequest(body, "");
  EXPECT_EQ(TargetOf(request), "input.path");
  EXPECT_THAT(Message(request.status()), HasSubstr("climbs out"));
  body["input"]["path"] = "azureml://datastores/store/paths/in/./x/";
  auto ok = ParseJobRequest(body, "");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->input.path, "azureml://datastores/store/paths/in/x");
}

TEST(JobRequestTest, OutputPathMustBeDatastorePath) {
  json body = BerthJob();
  body["output_path"] = "/tmp/out";
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "output_path");
  body["output_path"] = "azureml://datastores/s/paths/../x";
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "output_path");
}

TEST(JobRequestTest, OverridesRangeChecked) {
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"mini_batch_size", 0}}, "settings.mini_batch_size"},
      {{{"instance_count", 0}}, "settings.instance_count"},
      {{{"max_concurrency_per_instance", 65}}, "settings.max_concurrency_per_instance"},
      {{{"retry_settings", {{"max_retries", -1}}}}, "settings.retry_settings.max_retries"},
      {{{"retry_settings", {{"timeout", 0}}}}, "settings.retry_settings.timeout"},
      {{{"error_threshold", -5}}, "settings.error_threshold"},
      {{{"output_file_name", "../x"}}, "settings.output_file_name"},
      {{{"logging_level", "trace"}}, "settings.logging_level"},
      {{{"output_action", "summary_only"}}, "settings.output_action"},
  };
  for (const auto& [settings, target] : cases) {
    json body = BerthJob();
    body["settings"] = settings;
    EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), target) << settings.dump();
  }
}

TEST(JobRequestTest, NamesAndPriorityChecked) {
  json body = BerthJob();
  body["name"] = "bad name";
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "name");
  body = BerthJob();
  body["priority"] = "high";
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "priority");
  body = BerthJob();
  body["deployment"] = "-x";
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "deployment");
}

TEST(JobRequestTest, AzurePascalCaseBody) {
  json body = {
      {"properties",
       {{"InputData",
         {{"heart_dataset", {{"JobInputType", "UriFolder"}, {"Uri", "azureml:heart-data:1"}}}}},
        {"OutputData",
         {{"score",
           {{"JobOutputType", "UriFolder"},
            {"Uri", "azureml://datastores/workspaceblobstore/paths/out"}}}}},
        {"Properties", {{"ExperimentName", "exp"}}}}}};
  auto request = ParseJobRequest(body, "classifier");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->input.type, DataType::kUriFolder);
  EXPECT_EQ(request->input.path, "azureml:heart-data:1");
  EXPECT_EQ(request->output_path, "azureml://datastores/workspaceblobstore/paths/out");
  EXPECT_EQ(request->experiment_name, "exp");
  EXPECT_EQ(request->deployment, "classifier");
}

TEST(JobRequestTest, AzureCamelCaseBodyWithSettings) {
  json body = {
      {"properties",
       {{"inputData", {{"input", {{"jobInputType", "urifile"}, {"uri", "azureml:d@latest"}}}}},
        {"outputDataset",
         {{"datastoreId", "/subscriptions/s/datastores/workspaceblobstore"}, {"path", "results"}}},
        {"miniBatchSize", 5},
        {"compute", {{"instanceCount", 2}, {"target", nullptr}}},
        {"errorThreshold", 3},
        {"retrySettings", {{"maxRetries", 1}, {"timeout", "PT30S"}}},
        {"outputFileName", "o.csv"},
        {"loggingLevel", "Debug"},
        {"maxConcurrencyPerInstance", 4},
        {"environmentVariables", {{"Key", "V"}}},
        {"description", "d"},
        {"tags", {{"Tag", "t"}}}}}};
  auto request = ParseJobRequest(body, "");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->input.type, DataType::kUriFile);
  EXPECT_EQ(request->output_path, "azureml://datastores/workspaceblobstore/paths/results");
  // The user's names (environment variables, tags) keep their case.
  EXPECT_EQ(request->overrides, (JobOverrides{.mini_batch_size = 5,
                                              .instance_count = 2,
                                              .max_concurrency_per_instance = 4,
                                              .max_retries = 1,
                                              .timeout_s = 30,
                                              .error_threshold = 3,
                                              .output_file_name = "o.csv",
                                              .logging_level = "debug",
                                              .environment_variables = {{"Key", "V"}}}));
  EXPECT_EQ(request->tags.at("Tag"), "t");
  EXPECT_EQ(request->description, "d");
}

TEST(JobRequestTest, AzureLiteralInputRefused) {
  json body = {{"properties",
                {{"InputData", {{"threshold", {{"JobInputType", "Literal"}, {"Value", "0.5"}}}}}}}};
  auto request = ParseJobRequest(body, "");
  EXPECT_EQ(TargetOf(request), "properties.inputData.threshold.jobInputType");
  EXPECT_THAT(Message(request.status()),
              HasSubstr("Only UriFileJobInput and UriFolderJobInput are supported for model "
                        "deployments"));
}

TEST(JobRequestTest, AzureExactlyOneInput) {
  json two = {{"properties",
               {{"InputData",
                 {{"a", {{"JobInputType", "UriFolder"}, {"Uri", "azureml:a:1"}}},
                  {"b", {{"JobInputType", "UriFolder"}, {"Uri", "azureml:b:1"}}}}}}}};
  EXPECT_EQ(TargetOf(ParseJobRequest(two, "")), "properties.inputData");
  json none = {{"properties", {{"InputData", json::object()}}}};
  EXPECT_EQ(TargetOf(ParseJobRequest(none, "")), "properties.inputData");
  json missing = {{"properties", json::object()}};
  EXPECT_EQ(TargetOf(ParseJobRequest(missing, "")), "properties.inputData");
}

TEST(JobRequestTest, AzureUrisChecked) {
  json body = {{"properties",
                {{"InputData", {{"in", {{"JobInputType", "UriFolder"}, {"Uri", "./local"}}}}}}}};
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "properties.inputData.in.uri");
  body["properties"]["InputData"]["in"]["Uri"] = "azureml://datastores/s/paths/ok";
  body["properties"]["OutputData"] = {{"score", {{"Uri", "azureml://datastores/s/paths/.."}}}};
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "properties.outputData.score.uri");
  body["properties"]["OutputData"]["score"]["Uri"] = "https://example.com/out";
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "properties.outputData.score.uri");
}

TEST(JobRequestTest, AzureOverridesRangeChecked) {
  json body = {{"properties",
                {{"InputData", {{"in", {{"JobInputType", "UriFolder"}, {"Uri", "azureml:d:1"}}}}},
                 {"MiniBatchSize", 0}}}};
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "properties.miniBatchSize");
  body["properties"].erase("MiniBatchSize");
  body["properties"]["RetrySettings"] = {{"Timeout", "PT0S"}};
  EXPECT_EQ(TargetOf(ParseJobRequest(body, "")), "properties.retrySettings.timeout");
}

// ---------------------------------------------------------------------------------------------
// Effective settings and job states.

TEST(EffectiveSettingsTest, OverridesApplyOverTheDeployment) {
  BatchDeploymentSpec deployment;
  deployment.instance_count = 2;
  deployment.settings.mini_batch_size = 7;
  deployment.settings.environment_variables = {{"A", "1"}, {"B", "2"}};
  JobOverrides overrides;
  overrides.instance_count = 3;
  overrides.timeout_s = 99;
  overrides.environment_variables = {{"B", "3"}, {"C", "4"}};
  EffectiveJobSettings effective = ApplyOverrides(deployment, overrides);
  EXPECT_EQ(effective.instance_count, 3);
  EXPECT_EQ(effective.settings.mini_batch_size, 7);
  EXPECT_EQ(effective.settings.retry_settings.timeout_s, 99);
  EXPECT_EQ(effective.settings.retry_settings.max_retries, 3);
  EXPECT_EQ(effective.settings.environment_variables,
            (std::map<std::string, std::string>{{"A", "1"}, {"B", "3"}, {"C", "4"}}));
}

TEST(EffectiveSettingsTest, RoundTrip) {
  EffectiveJobSettings settings;
  settings.instance_count = 4;
  settings.settings.output_action = OutputAction::kSummaryOnly;
  settings.settings.output_file_name = "kept.csv";
  settings.settings.logging_level = "warning";
  settings.settings.error_threshold = 5;
  settings.settings.environment_variables = {{"K", "V"}};
  json doc = ToJson(settings);
  EXPECT_EQ(doc["instance_count"], 4);
  EXPECT_EQ(doc["retry_settings"]["timeout"], 30);
  auto again = ParseEffectiveJobSettings(doc);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, settings);
}

TEST(EffectiveSettingsTest, RangesChecked) {
  EXPECT_EQ(TargetOf(ParseEffectiveJobSettings(json{{"instance_count", 0}})), "instance_count");
  EXPECT_EQ(TargetOf(ParseEffectiveJobSettings(json{{"mini_batch_size", 0}})), "mini_batch_size");
}

TEST(JobStatusTest, AzureNamesRoundTrip) {
  const std::vector<std::pair<JobStatus, std::string>> names = {
      {JobStatus::kNotStarted, "NotStarted"}, {JobStatus::kQueued, "Queued"},
      {JobStatus::kPreparing, "Preparing"},   {JobStatus::kRunning, "Running"},
      {JobStatus::kFinalizing, "Finalizing"}, {JobStatus::kCompleted, "Completed"},
      {JobStatus::kFailed, "Failed"},         {JobStatus::kCancelRequested, "CancelRequested"},
      {JobStatus::kCanceled, "Canceled"}};
  for (const auto& [status, name] : names) {
    EXPECT_EQ(JobStatusName(status), name);
    EXPECT_EQ(ParseJobStatus(name), status);
  }
  EXPECT_EQ(ParseJobStatus("running"), std::nullopt);
  EXPECT_EQ(ParseJobStatus("Cancelled"), std::nullopt);
}

TEST(JobStatusTest, Terminal) {
  EXPECT_TRUE(IsTerminal(JobStatus::kCompleted));
  EXPECT_TRUE(IsTerminal(JobStatus::kFailed));
  EXPECT_TRUE(IsTerminal(JobStatus::kCanceled));
  EXPECT_FALSE(IsTerminal(JobStatus::kCancelRequested));
  EXPECT_FALSE(IsTerminal(JobStatus::kRunning));
}

TEST(EnumNamesTest, Names) {
  EXPECT_STREQ(OutputActionName(OutputAction::kAppendRow), "append_row");
  EXPECT_STREQ(OutputActionName(OutputAction::kSummaryOnly), "summary_only");
  EXPECT_STREQ(ComputeTierName(ComputeTier::kLowPriority), "low_priority");
  EXPECT_STREQ(JobPriorityName(JobPriority::kLow), "low");
  EXPECT_STREQ(JobPriorityName(JobPriority::kNormal), "normal");
}

}  // namespace
}  // namespace berth::core
