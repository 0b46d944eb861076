// BatchService over MemoryStateStore, a temp data dir and a fake JobRunner: the resource rules,
// invocation from each kind of input, and that every refused invocation leaves nothing behind
// (no job record, no folder, nothing submitted).

#include "batch/batch_service.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <memory>
#include <set>

#include "batch/fake_job_runner.h"
#include "common/errors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"
#include "state/test_temp_dir.h"

namespace berth::batch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kModelDigest = "sha256:" + std::string(64, 'a');
const std::string kCodeDigest = "sha256:" + std::string(64, 'b');
const std::string kInputFolderDigest = "sha256:" + std::string(64, 'c');
const std::string kInputFileDigest = "sha256:" + std::string(64, 'd');
const std::string kStore = "azureml://datastores/workspaceblobstore/paths/";

json Artifact(const std::string& digest, const std::string& base_name, bool is_file) {
  return {{"digest", digest}, {"base_name", base_name}, {"is_file", is_file}};
}

json DeploymentDoc(const std::string& name, const std::string& compute = "azureml:cpu-cluster") {
  json doc = {{"name", name},
              {"type", "model"},
              {"model",
               {{"name", "heart"},
                {"path", "model"},
                {"artifact", Artifact(kModelDigest, "model", false)}}},
              {"code_configuration",
               {{"code", "src"},
                {"scoring_script", "score.py"},
                {"artifact", Artifact(kCodeDigest, "src", false)}}},
              {"resources", {{"instance_count", 1}}},
              {"settings", {{"mini_batch_size", 2}}}};
  if (!compute.empty()) doc["compute"] = compute;
  return doc;
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Every file and folder under `root`, relative to it.
std::set<std::string> Tree(const fs::path& root) {
  std::set<std::string> names;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    names.insert(it->path().lexically_relative(root).string());
  }
  return names;
}

// The entries of a tar: name -> contents.
std::map<std::string, std::string> Untar(const std::string& tar) {
  std::map<std::string, std::string> entries;
  std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                archive_read_free);
  archive_read_support_format_tar(reader.get());
  EXPECT_EQ(archive_read_open_memory(reader.get(), tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* entry = nullptr;
  while (archive_read_next_header(reader.get(), &entry) == ARCHIVE_OK) {
    std::string contents(static_cast<size_t>(archive_entry_size(entry)), '\0');
    archive_read_data(reader.get(), contents.data(), contents.size());
    entries[archive_entry_pathname(entry)] = contents;
  }
  return entries;
}

// `expr` fails with `want_code` and the field path `want_target` ("" = none).
#define EXPECT_ERROR(expr, want_code, want_target)                                       \
  do {                                                                                   \
    auto result_ = (expr);                                                               \
    ASSERT_FALSE(result_.ok());                                                          \
    EXPECT_EQ(result_.status().code(), absl::StatusCode::want_code) << result_.status(); \
    EXPECT_EQ(ErrorTarget(result_.status()), want_target) << result_.status();           \
  } while (0)

class BatchServiceTest : public ::testing::Test {
 protected:
  BatchServiceTest() {
    EXPECT_TRUE(service_.Init().ok());
    // "Uploaded" artifacts: the store knows an artifact by its folder.
    WriteFile(artifacts_.PathOf(kModelDigest) / "model.pkl", "model");
    WriteFile(artifacts_.PathOf(kCodeDigest) / "score.py", "def run(batch): return batch");
    WriteFile(artifacts_.PathOf(kInputFolderDigest) / "a.csv", "1");
    WriteFile(artifacts_.PathOf(kInputFileDigest) / "one.csv", "1");
    WriteFile(Datastore() / "inputs" / "heart" / "a.csv", "1");
    WriteFile(Datastore() / "inputs" / "heart" / "b.csv", "2");
    WriteFile(Datastore() / "inputs" / "single.csv", "3");
  }

  fs::path Datastore() const { return dir_.path() / "datastores" / "workspaceblobstore"; }

  void CreateCompute(int max_instances = 4, const std::string& tier = "dedicated") {
    auto written = service_.PutCompute(
        "cpu-cluster", {{"name", "cpu-cluster"}, {"max_instances", max_instances}, {"tier", tier}});
    ASSERT_TRUE(written.ok()) << written.status();
  }

  // Endpoint ep1 with deployment blue as its default, on compute cpu-cluster.
  void CreateEndpointWithDefault() {
    CreateCompute();
    ASSERT_TRUE(service_.ApplyEndpoint("ep1", {{"name", "ep1"}}, true).ok());
    auto deployment = service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, true);
    ASSERT_TRUE(deployment.ok()) << deployment.status();
  }

  json Request(const std::string& path, const std::string& type = "uri_folder") {
    return {{"input", {{"type", type}, {"path", path}}}};
  }

  // What an error path must leave as it was.
  struct Snapshot {
    std::set<std::string> datastores;
    size_t jobs = 0;
    size_t submitted = 0;
  };
  Snapshot Take() {
    auto jobs = store_.ListResources(state::kResourceJob, "");
    EXPECT_TRUE(jobs.ok());
    return {Tree(dir_.path() / "datastores"), jobs.ok() ? jobs->size() : 0,
            runner_.submitted().size()};
  }
  void ExpectUnchanged(const Snapshot& before) {
    Snapshot after = Take();
    EXPECT_EQ(after.datastores, before.datastores);
    EXPECT_EQ(after.jobs, before.jobs);
    EXPECT_EQ(after.submitted, before.submitted);
  }

  state::TestTempDir dir_;
  state::MemoryStateStore store_;
  controlplane::ArtifactStore artifacts_{dir_.path()};
  ManualClock clock_;
  controlplane::ModelRegistry models_{store_, artifacts_, clock_};
  DefaultRandom random_{7};
  FakeJobRunner runner_;
  BatchService service_{
      store_, artifacts_, &models_, clock_, random_, runner_, {dir_.path(), "http://berth:8080"}};
};

// ------------------------------------------------------------------------------ endpoints

TEST_F(BatchServiceTest, EndpointCreateMergeAndCaseInsensitiveNames) {
  auto created = service_.ApplyEndpoint("Ep1", {{"description", "first"}}, true);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->view["name"], "Ep1");
  EXPECT_EQ(created->view["provisioning_state"], "Succeeded");
  EXPECT_EQ(created->view["scoring_uri"], "http://berth:8080/batch-endpoints/Ep1/jobs");
  EXPECT_EQ(created->view["auth_mode"], "aad_token");

  auto merged = service_.ApplyEndpoint("EP1", {{"tags", {{"k", "v"}}}}, true);
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_FALSE(merged->created);
  EXPECT_EQ(merged->view["name"], "Ep1");  // the first spelling stays
  EXPECT_EQ(merged->view["description"], "first");
  EXPECT_EQ(merged->view["tags"]["k"], "v");
  EXPECT_TRUE(service_.GetEndpoint("ep1").ok());

  EXPECT_ERROR(service_.ApplyEndpoint("absent", json::object(), false), kNotFound, "");
  EXPECT_ERROR(service_.ApplyEndpoint("ep1", {{"name", "other"}}, true), kInvalidArgument, "name");
  EXPECT_ERROR(service_.ApplyEndpoint("ep2", {{"auth_mode", "key"}}, true), kInvalidArgument,
               "auth_mode");
}

TEST_F(BatchServiceTest, EndpointListIsPaged) {
  for (const char* name : {"ep-c", "ep-a", "ep-b"}) {
    ASSERT_TRUE(service_.ApplyEndpoint(name, json::object(), true).ok());
  }
  auto first = service_.ListEndpoints({2, ""});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->value.size(), 2u);
  EXPECT_EQ(first->value[0]["name"], "ep-a");
  EXPECT_EQ(first->value[1]["name"], "ep-b");
  auto second = service_.ListEndpoints({2, first->next_token});
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->value.size(), 1u);
  EXPECT_EQ(second->value[0]["name"], "ep-c");
  EXPECT_TRUE(second->next_token.empty());
}

TEST_F(BatchServiceTest, DefaultDeploymentMustExist) {
  CreateCompute();
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  EXPECT_ERROR(service_.ApplyEndpoint("ep1", {{"defaults", {{"deployment_name", "nope"}}}}, false),
               kNotFound, "defaults.deployment_name");
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "Blue", DeploymentDoc("Blue"), true, false).ok());
  auto updated =
      service_.ApplyEndpoint("ep1", {{"defaults", {{"deployment_name", "blue"}}}}, false);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->view["defaults"]["deployment_name"], "Blue");
}

TEST_F(BatchServiceTest, DeleteEndpointRemovesDeploymentsAndKeepsJobs) {
  CreateEndpointWithDefault();
  auto job = service_.Invoke("ep1", Request(kStore + "inputs/heart"), "");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(service_.DeleteEndpoint("EP1").ok());
  EXPECT_ERROR(service_.GetEndpoint("ep1"), kNotFound, "");
  auto deployments = store_.ListResources(state::kResourceBatchDeployment, "");
  ASSERT_TRUE(deployments.ok());
  EXPECT_THAT(*deployments, IsEmpty());
  EXPECT_TRUE(service_.GetJob((*job)["name"]).ok());
  // A new endpoint of the same name starts with no deployments.
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  EXPECT_ERROR(service_.GetDeployment("ep1", "blue"), kNotFound, "");
}

// ---------------------------------------------------------------------------- deployments

TEST_F(BatchServiceTest, DeploymentNeedsItsEndpointAndCompute) {
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, false),
               kNotFound, "endpoint_name");
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, false),
               kNotFound, "compute");
  auto stored = store_.ListResources(state::kResourceBatchDeployment, "");
  ASSERT_TRUE(stored.ok());
  EXPECT_THAT(*stored, IsEmpty());
}

TEST_F(BatchServiceTest, DeploymentInstanceCountIsBoundByTheCompute) {
  CreateCompute(2);
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  json doc = DeploymentDoc("blue");
  doc["resources"]["instance_count"] = 3;
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "blue", doc, true, false), kInvalidArgument,
               "resources.instance_count");
  doc["resources"]["instance_count"] = 2;
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", doc, true, false).ok());
  // The compute cannot shrink below what its deployments need, nor go while one names it.
  EXPECT_ERROR(service_.PutCompute("cpu-cluster", {{"max_instances", 1}}), kInvalidArgument,
               "max_instances");
  EXPECT_ERROR(service_.DeleteCompute("CPU-cluster"), kFailedPrecondition, "");
}

TEST_F(BatchServiceTest, WithoutAScriptTheModelMustBeAnMlflowModel) {
  CreateCompute();
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  json doc = DeploymentDoc("blue");
  doc.erase("code_configuration");
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "blue", doc, true, false), kInvalidArgument,
               "code_configuration");
  doc["environment"] = {{"image", "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"}};
  auto image_only = service_.ApplyDeployment("ep1", "blue", doc, true, false);
  EXPECT_ERROR(image_only, kInvalidArgument, "environment.image");
  EXPECT_NE(image_only.status().message().find("does not run container images"), std::string::npos);
  EXPECT_FALSE(store_.GetResource(state::kResourceBatchDeployment, "ep1/blue").ok());
}

TEST_F(BatchServiceTest, DeploymentArtifactsAndModelsMustExist) {
  CreateCompute();
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  json doc = DeploymentDoc("blue");
  doc["model"]["artifact"]["digest"] = "sha256:" + std::string(64, 'e');
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "blue", doc, true, false), kNotFound,
               "model.artifact");
  doc["model"] = "azureml:heart@latest";
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "blue", doc, true, false), kNotFound, "model");

  core::ModelAsset model;
  model.name = "heart";
  model.path = "model";
  model.artifact = core::ArtifactRef{kModelDigest, "model", false};
  ASSERT_TRUE(models_.Create(model).ok());
  auto written = service_.ApplyDeployment("ep1", "blue", doc, true, false);
  ASSERT_TRUE(written.ok()) << written.status();
  // `@latest` is pinned to the version it meant.
  auto stored = store_.GetResource(state::kResourceBatchDeployment, "ep1/blue");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->doc["model"], "azureml:heart:1");
}

TEST_F(BatchServiceTest, LegacyLayoutMergesIntoSettings) {
  CreateCompute();
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, false).ok());
  auto updated = service_.ApplyDeployment("ep1", "BLUE", {{"mini_batch_size", 7}}, false, false);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->created);
  EXPECT_EQ(updated->view["name"], "blue");
  EXPECT_EQ(updated->view["settings"]["mini_batch_size"], 7);
  EXPECT_EQ(updated->view["provisioning_state"], "Succeeded");
  EXPECT_ERROR(service_.ApplyDeployment("ep1", "green", {{"mini_batch_size", 7}}, false, false),
               kNotFound, "");
}

TEST_F(BatchServiceTest, FirstDeploymentIsNotDefaultUntilSetDefault) {
  CreateCompute();
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, false).ok());
  auto endpoint = service_.GetEndpoint("ep1");
  ASSERT_TRUE(endpoint.ok());
  EXPECT_FALSE(endpoint->contains("defaults") &&
               (*endpoint)["defaults"].value("deployment_name", "") != "");

  ASSERT_TRUE(service_.ApplyDeployment("ep1", "green", DeploymentDoc("green"), true, true).ok());
  endpoint = service_.GetEndpoint("ep1");
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ((*endpoint)["defaults"]["deployment_name"], "green");
}

TEST_F(BatchServiceTest, DeleteDeploymentRules) {
  CreateEndpointWithDefault();
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "green", DeploymentDoc("green"), true, false).ok());
  // The default goes last.
  EXPECT_ERROR(service_.DeleteDeployment("ep1", "blue"), kFailedPrecondition,
               "defaults.deployment_name");
  // Not while one of its jobs runs.
  auto job = service_.Invoke("ep1", Request(kStore + "inputs/heart"), "green");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_ERROR(service_.DeleteDeployment("ep1", "green"), kFailedPrecondition, "");
  JobRepository jobs(store_);
  auto record = jobs.Get((*job)["name"]);
  ASSERT_TRUE(record.ok());
  record->status = core::JobStatus::kCompleted;
  ASSERT_TRUE(jobs.Update(*record).ok());
  ASSERT_TRUE(service_.DeleteDeployment("ep1", "green").ok());
  // The only deployment left may go, default or not; the endpoint is then without one.
  ASSERT_TRUE(service_.DeleteDeployment("ep1", "BLUE").ok());
  auto endpoint = service_.GetEndpoint("ep1");
  ASSERT_TRUE(endpoint.ok());
  EXPECT_EQ((*endpoint)["defaults"].value("deployment_name", ""), "");
}

// ------------------------------------------------------------------------------- computes

TEST_F(BatchServiceTest, ComputeCreateReplaceDelete) {
  auto created = service_.PutCompute("cpu-cluster", {{"max_instances", 2}});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->view["max_instances"], 2);
  auto replaced = service_.PutCompute("cpu-cluster", {{"max_instances", 3}});
  ASSERT_TRUE(replaced.ok());
  EXPECT_FALSE(replaced->created);
  EXPECT_EQ(replaced->view["max_instances"], 3);
  auto list = service_.ListComputes({});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->value.size(), 1u);
  ASSERT_TRUE(service_.DeleteCompute("cpu-cluster").ok());
  EXPECT_ERROR(service_.GetCompute("cpu-cluster"), kNotFound, "");
}

// ---------------------------------------------------------------------------- data assets

TEST_F(BatchServiceTest, DataVersionsLatestAndArchive) {
  json doc = {{"name", "heart"}, {"type", "uri_folder"}, {"path", kStore + "inputs/heart"}};
  auto first = service_.CreateData(doc);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)["version"], "1");
  clock_.Advance(std::chrono::seconds(1));
  auto second = service_.CreateData(doc);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)["version"], "2");
  doc["version"] = "2";
  EXPECT_ERROR(service_.CreateData(doc), kAlreadyExists, "version");

  auto latest = service_.GetData("heart", "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)["version"], "2");
  auto archived = service_.ArchiveData("heart", "2");
  ASSERT_TRUE(archived.ok());
  EXPECT_EQ((*archived)["archived"], true);
  latest = service_.GetData("heart", "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)["version"], "1");
  auto by_version = service_.GetData("heart", "2");
  ASSERT_TRUE(by_version.ok());
  EXPECT_EQ((*by_version)["archived"], true);

  auto list = service_.ListData("heart", {1, ""});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->value.size(), 1u);
  EXPECT_EQ(list->value[0]["version"], "1");
  list = service_.ListData("heart", {1, list->next_token});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->value.size(), 1u);
  EXPECT_EQ(list->value[0]["version"], "2");
}

TEST_F(BatchServiceTest, DataPathMustExistAndMatchItsType) {
  EXPECT_ERROR(service_.CreateData({{"name", "x"}, {"path", kStore + "inputs/absent"}}), kNotFound,
               "path");
  EXPECT_ERROR(
      service_.CreateData({{"name", "x"}, {"type", "uri_file"}, {"path", kStore + "inputs/heart"}}),
      kInvalidArgument, "type");
  EXPECT_ERROR(
      service_.CreateData({{"name", "x"}, {"path", "azureml://datastores/nostore/paths/a"}}),
      kNotFound, "path");
  EXPECT_ERROR(service_.CreateData(
                   {{"name", "x"},
                    {"path", "./local"},
                    {"artifact", Artifact("sha256:" + std::string(64, 'f'), "local", false)}}),
               kNotFound, "artifact");
}

// ----------------------------------------------------------------------------- invocation

TEST_F(BatchServiceTest, InvokeFromADatastorePath) {
  CreateEndpointWithDefault();
  auto view = service_.Invoke("ep1", Request(kStore + "inputs/heart"), "");
  ASSERT_TRUE(view.ok()) << view.status();
  const std::string name = (*view)["name"];
  EXPECT_THAT(name, ::testing::StartsWith("batchjob-"));
  EXPECT_EQ((*view)["status"], "NotStarted");
  EXPECT_EQ((*view)["endpoint_name"], "ep1");
  EXPECT_EQ((*view)["deployment_name"], "blue");
  EXPECT_EQ((*view)["experiment_name"], "ep1");
  EXPECT_EQ((*view)["priority"], "normal");
  EXPECT_EQ((*view)["outputs"]["score"]["path"], kStore + "azureml/" + name + "/score/");
  EXPECT_EQ((*view)["log_folder"], (dir_.path() / "jobs" / name).string());
  EXPECT_TRUE(fs::is_directory(Datastore() / "azureml" / name / "score"));
  EXPECT_THAT(runner_.submitted(), ElementsAre(name));

  JobRepository jobs(store_);
  auto job = jobs.Get(name);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->input_host_path, (Datastore() / "inputs" / "heart").string());
  EXPECT_EQ(job->settings.settings.mini_batch_size, 2);
  EXPECT_EQ(job->compute, "cpu-cluster");
  EXPECT_FALSE(job->deployment_spec.empty());
}

TEST_F(BatchServiceTest, InvokeFromADataAsset) {
  CreateEndpointWithDefault();
  ASSERT_TRUE(service_.CreateData({{"name", "heart"}, {"path", kStore + "inputs/heart"}}).ok());
  ASSERT_TRUE(
      service_
          .CreateData(
              {{"name", "single"}, {"type", "uri_file"}, {"path", kStore + "inputs/single.csv"}})
          .ok());
  ASSERT_TRUE(service_.ArchiveData("heart", "1").ok());
  // By version even when archived.
  auto view = service_.Invoke("ep1", Request("azureml:heart:1"), "");
  ASSERT_TRUE(view.ok()) << view.status();
  auto file = service_.Invoke("ep1", Request("azureml:single@latest", "uri_file"), "");
  ASSERT_TRUE(file.ok()) << file.status();
  JobRepository jobs(store_);
  auto job = jobs.Get((*file)["name"]);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->input_host_path, (Datastore() / "inputs" / "single.csv").string());
}

TEST_F(BatchServiceTest, InvokeFromAnUploadedFolderOrFile) {
  CreateEndpointWithDefault();
  json folder = {{"input",
                  {{"type", "uri_folder"},
                   {"path", "./data"},
                   {"artifact", Artifact(kInputFolderDigest, "data", false)}}}};
  auto view = service_.Invoke("ep1", folder, "");
  ASSERT_TRUE(view.ok()) << view.status();
  JobRepository jobs(store_);
  auto job = jobs.Get((*view)["name"]);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->input_host_path, artifacts_.PathOf(kInputFolderDigest).string());

  json file = {{"input",
                {{"type", "uri_file"},
                 {"path", "./one.csv"},
                 {"artifact", Artifact(kInputFileDigest, "one.csv", true)}}}};
  view = service_.Invoke("ep1", file, "");
  ASSERT_TRUE(view.ok()) << view.status();
  job = jobs.Get((*view)["name"]);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->input_host_path, (artifacts_.PathOf(kInputFileDigest) / "one.csv").string());
}

TEST_F(BatchServiceTest, InvokeWithOverridesNameOutputAndPriority) {
  CreateCompute(4, "low_priority");
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, false).ok());
  json request = Request(kStore + "inputs/heart");
  request["name"] = "run-7";
  request["output_path"] = kStore + "results/run-7";
  request["settings"] = {{"mini_batch_size", 5}, {"instance_count", 3}};
  request["experiment_name"] = "exp";
  auto view = service_.Invoke("ep1", request, "blue");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ((*view)["name"], "run-7");
  EXPECT_EQ((*view)["priority"], "low");
  EXPECT_EQ((*view)["experiment_name"], "exp");
  EXPECT_EQ((*view)["outputs"]["score"]["path"], kStore + "results/run-7/");
  EXPECT_TRUE(fs::is_directory(Datastore() / "results" / "run-7"));
  JobRepository jobs(store_);
  auto job = jobs.Get("run-7");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->settings.instance_count, 3);
  EXPECT_EQ(job->settings.settings.mini_batch_size, 5);

  // The same name again: 409, and the first job's folder is untouched.
  Snapshot before = Take();
  request["output_path"] = kStore + "results/run-8";
  EXPECT_ERROR(service_.Invoke("ep1", request, "blue"), kAlreadyExists, "name");
  ExpectUnchanged(before);

  // Another job may not write into run-7's folder, although it holds no files yet.
  request["name"] = "run-9";
  request["output_path"] = kStore + "results/run-7";
  EXPECT_ERROR(service_.Invoke("ep1", request, "blue"), kInvalidArgument, "output_path");
  ExpectUnchanged(before);
}

// Each bad request: an error naming the field, and nothing left behind.
TEST_F(BatchServiceTest, RefusedInvocationsLeaveNothingBehind) {
  CreateEndpointWithDefault();
  WriteFile(Datastore() / "results" / "taken" / "predictions.csv", "old");
  struct Case {
    std::string what;
    json body;
    std::string header;
    absl::StatusCode code;
    std::string target;
  };
  json output_taken = Request(kStore + "inputs/heart");
  output_taken["output_path"] = kStore + "results/taken";
  json output_not_datastore = Request(kStore + "inputs/heart");
  output_not_datastore["output_path"] = "/tmp/out";
  json bad_setting = Request(kStore + "inputs/heart");
  bad_setting["settings"] = {{"mini_batch_size", 0}};
  json too_many = Request(kStore + "inputs/heart");
  too_many["settings"] = {{"instance_count", 5}};
  json missing_store = Request("azureml://datastores/nostore/paths/a");
  json unuploaded = {{"input",
                      {{"type", "uri_folder"},
                       {"path", "./data"},
                       {"artifact", Artifact("sha256:" + std::string(64, '9'), "data", false)}}}};
  const std::vector<Case> cases = {
      {"missing input path", Request(kStore + "inputs/absent"), "", absl::StatusCode::kNotFound,
       "input.path"},
      {"missing datastore", missing_store, "", absl::StatusCode::kNotFound, "input.path"},
      {"input path climbing out", Request(kStore + "inputs/../../escape"), "",
       absl::StatusCode::kInvalidArgument, "input.path"},
      {"unknown data asset", Request("azureml:nothing:1"), "", absl::StatusCode::kNotFound,
       "input.path"},
      {"unknown latest data asset", Request("azureml:nothing@latest"), "",
       absl::StatusCode::kNotFound, "input.path"},
      {"input not uploaded", unuploaded, "", absl::StatusCode::kNotFound, "input.path"},
      {"folder given as a file", Request(kStore + "inputs/heart", "uri_file"), "",
       absl::StatusCode::kInvalidArgument, "input.type"},
      {"file given as a folder", Request(kStore + "inputs/single.csv"), "",
       absl::StatusCode::kInvalidArgument, "input.type"},
      {"output holding files", output_taken, "", absl::StatusCode::kInvalidArgument, "output_path"},
      {"output outside datastores", output_not_datastore, "", absl::StatusCode::kInvalidArgument,
       "output_path"},
      {"unknown deployment", Request(kStore + "inputs/heart"), "nope", absl::StatusCode::kNotFound,
       "deployment"},
      {"invalid setting", bad_setting, "", absl::StatusCode::kInvalidArgument,
       "settings.mini_batch_size"},
      {"more instances than the compute", too_many, "", absl::StatusCode::kInvalidArgument,
       "settings.instance_count"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Snapshot before = Take();
    auto result = service_.Invoke("ep1", c.body, c.header);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), c.code) << result.status();
    EXPECT_EQ(ErrorTarget(result.status()), c.target) << result.status();
    ExpectUnchanged(before);
  }
  EXPECT_ERROR(service_.Invoke("absent", Request(kStore + "inputs/heart"), ""), kNotFound, "");
}

TEST_F(BatchServiceTest, NoDefaultDeploymentIsAzuresError) {
  CreateCompute();
  ASSERT_TRUE(service_.ApplyEndpoint("ep1", json::object(), true).ok());
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "blue", DeploymentDoc("blue"), true, false).ok());
  Snapshot before = Take();
  auto result = service_.Invoke("ep1", Request(kStore + "inputs/heart"), "");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(result.status()), "deployment");
  EXPECT_THAT(result.status().message(),
              HasSubstr("No valid deployments to route to. Please check that the endpoint has at "
                        "least one deployment with positive weight values or use a deployment "
                        "specific header to route."));
  ExpectUnchanged(before);
  // Naming the deployment routes without a default.
  EXPECT_TRUE(service_.Invoke("ep1", Request(kStore + "inputs/heart"), "BLUE").ok());
}

// ----------------------------------------------------------------------------------- jobs

TEST_F(BatchServiceTest, JobViewCountsPersistedAndLiveProgress) {
  CreateEndpointWithDefault();
  auto view = service_.Invoke("ep1", Request(kStore + "inputs/heart"), "");
  ASSERT_TRUE(view.ok());
  const std::string name = (*view)["name"];
  JobRepository jobs(store_);
  auto job = jobs.Get(name);
  ASSERT_TRUE(job.ok());
  job->status = core::JobStatus::kRunning;
  job->counts = {10, 4, 1, 50, 20, 5};
  job->errors.push_back({3, {"f3.csv"}, 1, "ValueError: bad"});
  ASSERT_TRUE(jobs.Update(*job).ok());
  runner_.SetLive(name, {4, 3, 12.5, 2.4});

  auto shown = service_.GetJob(name);
  ASSERT_TRUE(shown.ok());
  const json& progress = (*shown)["progress"];
  EXPECT_EQ((*shown)["status"], "Running");
  EXPECT_EQ(progress["mini_batches"]["total"], 10);
  EXPECT_EQ(progress["mini_batches"]["succeeded"], 4);
  EXPECT_EQ(progress["mini_batches"]["failed"], 1);
  EXPECT_EQ(progress["mini_batches"]["running"], 3);
  EXPECT_EQ(progress["mini_batches"]["pending"], 2);
  EXPECT_EQ(progress["items"]["total"], 50);
  EXPECT_EQ(progress["items"]["failed"], 5);
  EXPECT_EQ(progress["workers"], 4);
  EXPECT_EQ(progress["items_per_second"], 12.5);
  EXPECT_EQ(progress["eta_seconds"], 2.4);
  EXPECT_EQ((*shown)["errors"][0]["files"][0], "f3.csv");
}

TEST_F(BatchServiceTest, ListJobsNewestFirstFilteredAndPaged) {
  CreateEndpointWithDefault();
  ASSERT_TRUE(service_.ApplyDeployment("ep1", "green", DeploymentDoc("green"), true, false).ok());
  std::vector<std::string> names;
  for (const char* deployment : {"blue", "green", "blue"}) {
    auto view = service_.Invoke("ep1", Request(kStore + "inputs/heart"), deployment);
    ASSERT_TRUE(view.ok()) << view.status();
    names.push_back((*view)["name"]);
    clock_.Advance(std::chrono::seconds(1));
  }
  auto page = service_.ListJobs("", "", {2, ""});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->value.size(), 2u);
  EXPECT_EQ(page->value[0]["name"], names[2]);
  EXPECT_EQ(page->value[1]["name"], names[1]);
  page = service_.ListJobs("", "", {2, page->next_token});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->value.size(), 1u);
  EXPECT_EQ(page->value[0]["name"], names[0]);

  auto of_blue = service_.ListEndpointJobs("EP1", "BLUE", {});
  ASSERT_TRUE(of_blue.ok());
  ASSERT_EQ(of_blue->value.size(), 2u);
  EXPECT_EQ(of_blue->value[0]["name"], names[2]);
  EXPECT_ERROR(service_.ListEndpointJobs("ep1", "nope", {}), kNotFound, "");
  EXPECT_ERROR(service_.ListEndpointJobs("nope", "", {}), kNotFound, "");
}

TEST_F(BatchServiceTest, CancelLogAndDownload) {
  CreateEndpointWithDefault();
  auto view = service_.Invoke("ep1", Request(kStore + "inputs/heart"), "");
  ASSERT_TRUE(view.ok());
  const std::string name = (*view)["name"];

  ASSERT_TRUE(service_.CancelJob(name).ok());
  EXPECT_THAT(runner_.canceled(), ElementsAre(name));
  EXPECT_ERROR(service_.CancelJob("nope"), kNotFound, "");

  const JobPaths paths = PathsOf(dir_.path() / "jobs", name);
  auto log = service_.JobLog(name, 0);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)["offset"], 0);
  EXPECT_EQ((*log)["text"], "");
  WriteFile(paths.driver_log(), "line one\nline two\n");
  log = service_.JobLog(name, 0);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)["text"], "line one\nline two\n");
  EXPECT_EQ((*log)["offset"], 18);
  EXPECT_EQ((*log)["job"]["name"], name);
  log = service_.JobLog(name, 9);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)["text"], "line two\n");
  EXPECT_ERROR(service_.JobLog(name, -1), kInvalidArgument, "offset");

  WriteFile(Datastore() / "azureml" / name / "score" / "predictions.csv", "a 1\n");
  WriteFile(paths.logs() / "job_result.txt", "done");
  auto output = service_.DownloadJob(name, "score", false);
  ASSERT_TRUE(output.ok()) << output.status();
  EXPECT_THAT(Untar(*output),
              ElementsAre(::testing::Pair("named-outputs/score/predictions.csv", "a 1\n")));
  auto all = service_.DownloadJob(name, "", true);
  ASSERT_TRUE(all.ok());
  std::map<std::string, std::string> entries = Untar(*all);
  EXPECT_EQ(entries["named-outputs/score/predictions.csv"], "a 1\n");
  EXPECT_EQ(entries["artifacts/logs/job_result.txt"], "done");
  EXPECT_EQ(entries["artifacts/azureml-logs/70_driver_log.txt"], "line one\nline two\n");
  EXPECT_ERROR(service_.DownloadJob(name, "other", false), kNotFound, "output");
}

}  // namespace
}  // namespace berth::batch
