// `berth batch-endpoint|batch-deployment|compute|data|job ...` against a fake berthd that
// answers as docs/batch.md says.

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "archive/tar_for_test.h"
#include "cli/cli.h"
#include "cli/cli_runner_for_test.h"
#include "cli/fake_http_server_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using archive::testing::MakeTar;
using nlohmann::json;
using testing::ErrorAnswer;
using testing::FakeHttpServer;
using ::testing::HasSubstr;
using testing::JsonAnswer;
using ::testing::Not;
using testing::RecordedRequest;

// Artifacts as berthd keeps them; everything else answered by `route` (per test), and a 201 job
// for invocations.
class FakeBatchd {
 public:
  FakeBatchd() : server_([this](const RecordedRequest& r) { return Handle(r); }) {}

  std::string url() const { return server_.url(); }
  std::vector<RecordedRequest> requests(const std::string& method) const {
    std::vector<RecordedRequest> out;
    for (const RecordedRequest& r : server_.requests()) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }

  std::mutex mu;
  std::set<std::string> artifacts;
  std::function<HttpResponse(const RecordedRequest&)> route;

 private:
  HttpResponse Handle(const RecordedRequest& r) {
    std::lock_guard lock(mu);
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer tok") {
      return ErrorAnswer(401, "Unauthorized", "missing or wrong admin token");
    }
    const std::string prefix = "/api/v1/artifacts/";
    if (absl::StartsWith(r.target, prefix)) {
      const std::string digest = r.target.substr(prefix.size());
      if (r.method == "HEAD") {
        return artifacts.count(digest) ? JsonAnswer(200, json::object())
                                       : ErrorAnswer(404, "NotFound", "no such artifact");
      }
      artifacts.insert(digest);
      return JsonAnswer(201, json::object());
    }
    if (r.method == "POST" && absl::EndsWith(r.target, "/jobs")) {
      json request = json::parse(r.body);
      json job = {{"name", request.value("name", "batchjob-7")},
                  {"type", "batch"},
                  {"status", "Queued"},
                  {"endpoint_name", "ep"},
                  {"deployment_name", request.value("deployment", "blue")}};
      return JsonAnswer(201, job);
    }
    if (route) return route(r);
    return ErrorAnswer(404, "NotFound", "not found: " + r.target);
  }

  FakeHttpServer server_;
};

class BatchCommandsTest : public CliRunnerTest {
 protected:
  std::string ServerUrl() const override { return berthd_.url(); }
  json LastBody(const std::string& method) const {
    return json::parse(berthd_.requests(method).back().body);
  }

  FakeBatchd berthd_;
};

TEST_F(BatchCommandsTest, InvokeUploadsALocalFolderAndPrintsTheJobName) {
  Write("heart/a.csv", "1,2\n");
  Write("heart/b.csv", "3,4\n");
  const std::string folder = (dir_ / "heart").string();
  ASSERT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", folder, "-d", "green"}), 0)
      << err_.str();
  EXPECT_EQ(out_.str(), "batchjob-7\n");
  EXPECT_THAT(err_.str(), HasSubstr("Uploading --input heart ("));
  ASSERT_EQ(berthd_.requests("PUT").size(), 1u);
  RecordedRequest post = berthd_.requests("POST").back();
  EXPECT_EQ(post.target, "/api/v1/batch-endpoints/ep/jobs");
  json body = json::parse(post.body);
  EXPECT_EQ(body["deployment"], "green");
  EXPECT_EQ(body["input"]["type"], "uri_folder");
  EXPECT_EQ(body["input"]["path"], folder);
  EXPECT_EQ(body["input"]["artifact"]["base_name"], "heart");
  EXPECT_EQ(body["input"]["artifact"]["is_file"], false);
  EXPECT_TRUE(berthd_.artifacts.count(body["input"]["artifact"]["digest"]));
  EXPECT_FALSE(body.contains("settings"));
  EXPECT_FALSE(body.contains("name"));

  // The same folder again: berthd has it, nothing is uploaded.
  ASSERT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", folder}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("PUT").size(), 1u);
  EXPECT_FALSE(LastBody("POST").contains("deployment"));

  // A file is a uri_file unless told otherwise; -o prints the job.
  const std::string file = Write("one.csv", "5,6\n");
  ASSERT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", file, "-o", "json"}), 0)
      << err_.str();
  EXPECT_EQ(LastBody("POST")["input"]["type"], "uri_file");
  EXPECT_EQ(LastBody("POST")["input"]["artifact"]["is_file"], true);
  EXPECT_EQ(json::parse(out_.str())["status"], "Queued");

  // A data asset is berthd's to resolve.
  ASSERT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", "azureml:heart-data:1"}), 0)
      << err_.str();
  EXPECT_EQ(LastBody("POST")["input"],
            json({{"type", "uri_folder"}, {"path", "azureml:heart-data:1"}}));
  EXPECT_EQ(berthd_.requests("PUT").size(), 2u);

  // A local path that is not there fails before anything is sent.
  const size_t posts = berthd_.requests("POST").size();
  EXPECT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", (dir_ / "none").string()}),
            1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: --input: "));
  EXPECT_EQ(berthd_.requests("POST").size(), posts);
}

TEST_F(BatchCommandsTest, InvokeMapsSetAndFlagsToTheRequest) {
  ASSERT_EQ(Berth({"batch-endpoint",
                   "invoke",
                   "-n",
                   "ep",
                   "--input",
                   "azureml://datastores/workspaceblobstore/paths/heart",
                   "--input-type",
                   "uri_file",
                   "--output-path",
                   "azureml://datastores/workspaceblobstore/paths/results/run-7",
                   "-m",
                   "5",
                   "--set",
                   "compute.instance_count=2",
                   "settings.max_concurrency_per_instance=2",
                   "--set",
                   "retry_settings.max_retries=1",
                   "--set",
                   "retry_settings.timeout=60",
                   "--set",
                   "error_threshold=10",
                   "--set",
                   "output_file_name=out.csv",
                   "--set",
                   "logging_level=debug",
                   "--set",
                   "environment_variables.K=V",
                   "--set",
                   "environment_variables.N=3",
                   "--job-name",
                   "run-7",
                   "--priority",
                   "low",
                   "--experiment-name",
                   "heart"}),
            0)
      << err_.str();
  EXPECT_EQ(out_.str(), "run-7\n");
  json body = LastBody("POST");
  EXPECT_EQ(body["name"], "run-7");
  EXPECT_EQ(body["input"], json({{"type", "uri_file"},
                                 {"path", "azureml://datastores/workspaceblobstore/paths/heart"}}));
  EXPECT_EQ(body["output_path"], "azureml://datastores/workspaceblobstore/paths/results/run-7");
  EXPECT_EQ(body["priority"], "low");
  EXPECT_EQ(body["experiment_name"], "heart");
  EXPECT_EQ(body["settings"], json::parse(R"({
      "mini_batch_size": 5, "instance_count": 2, "max_concurrency_per_instance": 2,
      "retry_settings": {"max_retries": 1, "timeout": 60}, "error_threshold": 10,
      "output_file_name": "out.csv", "logging_level": "debug",
      "environment_variables": {"K": "V", "N": "3"}})"));

  // -c wins over --set instance_count.
  ASSERT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", "azureml:d@latest", "--set",
                   "instance_count=4", "-c", "3"}),
            0)
      << err_.str();
  EXPECT_EQ(LastBody("POST")["settings"], json({{"instance_count", 3}}));

  const size_t posts = berthd_.requests("POST").size();
  EXPECT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", "azureml:d:1", "--set",
                   "compute.target=gpu"}),
            2);
  EXPECT_THAT(err_.str(), HasSubstr("only compute.instance_count"));
  EXPECT_EQ(
      Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", "azureml:d:1", "--set", "novalue"}),
      2);
  EXPECT_EQ(Berth({"batch-endpoint", "invoke", "-n", "ep", "--input", "azureml:d:1", "--priority",
                   "high"}),
            2);
  EXPECT_EQ(berthd_.requests("POST").size(), posts);
}

TEST_F(BatchCommandsTest, EndpointWritesAndServerErrors) {
  berthd_.route = [](const RecordedRequest& r) {
    if (r.method == "PATCH" && r.target == "/api/v1/batch-endpoints/missing") {
      return ErrorAnswer(404, "NotFound", "batch endpoint missing not found");
    }
    if (r.method == "PUT" || r.method == "PATCH") {
      json doc = json::parse(r.body);
      if (doc.contains("auth_mode") && doc["auth_mode"] != "aad_token") {
        return ErrorAnswer(400, "BadArgument", "auth_mode: must be aad_token", "auth_mode");
      }
      doc["name"] = "ep";
      return JsonAnswer(r.method == "PUT" ? 201 : 200, doc);
    }
    return ErrorAnswer(404, "NotFound", "not found");
  };
  std::string file = Write("endpoint.yml", "name: ep\ndescription: heart\n");
  ASSERT_EQ(Berth({"batch-endpoint", "create", "-f", file, "-o", "table"}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("PUT").back().target, "/api/v1/batch-endpoints/ep");
  EXPECT_THAT(out_.str(), HasSubstr("Name  DefaultDeployment"));

  ASSERT_EQ(
      Berth({"batch-endpoint", "update", "-n", "ep", "--set", "defaults.deployment_name=green"}), 0)
      << err_.str();
  RecordedRequest patch = berthd_.requests("PATCH").back();
  EXPECT_EQ(patch.target, "/api/v1/batch-endpoints/ep");
  EXPECT_EQ(json::parse(patch.body), json({{"defaults", {{"deployment_name", "green"}}}}));

  EXPECT_EQ(Berth({"batch-endpoint", "update", "-n", "ep"}), 2);
  EXPECT_EQ(Berth({"batch-endpoint", "update", "-n", "missing", "--set", "description=x"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: batch endpoint missing not found"));
  std::string bad = Write("bad.yml", "name: ep\nauth_mode: key\n");
  EXPECT_EQ(Berth({"batch-endpoint", "create", "-f", bad}), 1);
  EXPECT_THAT(err_.str(), HasSubstr(bad + ": auth_mode: must be aad_token"));
}

TEST_F(BatchCommandsTest, DeploymentCreateUploadsFoldersAndSetsTheDefault) {
  berthd_.route = [](const RecordedRequest& r) {
    return JsonAnswer(r.method == "PUT" ? 201 : 200, json::parse(r.body));
  };
  Write("deploy/model/model.pkl", "pickle");
  Write("deploy/code/batch_driver.py", "def init(): pass\ndef run(mb): return mb\n");
  // The legacy layout: settings at the root, no `type`.
  std::string file = Write("deploy/deployment.yml",
                           "name: blue\n"
                           "endpoint_name: from-file\n"
                           "model:\n  name: heart\n  path: model\n"
                           "code_configuration:\n  code: code\n  scoring_script: batch_driver.py\n"
                           "compute: azureml:batch-cluster\n"
                           "mini_batch_size: 10\n"
                           "retry_settings:\n  max_retries: 3\n  timeout: 30\n"
                           "instance_count: 2\n");
  ASSERT_EQ(Berth({"batch-deployment", "create", "-f", file, "-e", "ep", "--set-default", "--set",
                   "error_threshold=5"}),
            0)
      << err_.str();
  RecordedRequest put = berthd_.requests("PUT").back();
  EXPECT_EQ(put.target, "/api/v1/batch-endpoints/ep/deployments/blue?set_default=true");
  json doc = json::parse(put.body);
  EXPECT_EQ(doc["endpoint_name"], "ep");
  EXPECT_EQ(doc["mini_batch_size"], 10);
  EXPECT_EQ(doc["error_threshold"], 5);
  EXPECT_EQ(doc["model"]["artifact"]["base_name"], "model");
  EXPECT_EQ(doc["code_configuration"]["artifact"]["base_name"], "code");
  EXPECT_EQ(berthd_.artifacts.size(), 2u);
  EXPECT_THAT(err_.str(), HasSubstr("Uploading model.path model ("));

  // Without --set-default the endpoint's default stays as it is.
  ASSERT_EQ(
      Berth({"batch-deployment", "create", "-f", file, "-e", "ep", "-n", "green", "-o", "table"}),
      0)
      << err_.str();
  EXPECT_EQ(berthd_.requests("PUT").back().target, "/api/v1/batch-endpoints/ep/deployments/green");
  EXPECT_THAT(out_.str(),
              HasSubstr("Name   Endpoint  Model  Compute                InstanceCount"));
  EXPECT_THAT(out_.str(), HasSubstr("green  ep        heart  azureml:batch-cluster  2"));

  ASSERT_EQ(Berth({"batch-deployment", "update", "-n", "blue", "-e", "ep", "--set",
                   "settings.mini_batch_size=4"}),
            0)
      << err_.str();
  RecordedRequest patch = berthd_.requests("PATCH").back();
  EXPECT_EQ(patch.target, "/api/v1/batch-endpoints/ep/deployments/blue");
  EXPECT_EQ(json::parse(patch.body), json({{"settings", {{"mini_batch_size", 4}}}}));
  EXPECT_EQ(Berth({"batch-deployment", "create", "-n", "x"}), 2);  // -f is required
}

TEST_F(BatchCommandsTest, ListsFollowNextLinkAndDeleteAsks) {
  const std::string next_link = berthd_.url() + "/api/v1/jobs?page=2";
  berthd_.route = [next_link](const RecordedRequest& r) {
    if (r.method == "DELETE") return JsonAnswer(200, json::object());
    if (absl::StartsWith(r.target, "/api/v1/jobs?page=2")) {
      json old = {{"name", "j1"}, {"status", "Completed"}};
      return JsonAnswer(200, {{"value", json::array({old})}});
    }
    json job = {{"name", "j2"},
                {"status", "Running"},
                {"endpoint_name", "ep"},
                {"deployment_name", "blue"},
                {"created_at", "2026-12-06T17:00:00Z"}};
    job["progress"]["mini_batches"] = {{"total", 10}, {"succeeded", 4}, {"failed", 0}};
    return JsonAnswer(200, {{"value", json::array({job})}, {"nextLink", next_link}});
  };
  ASSERT_EQ(
      Berth({"job", "list", "--endpoint-name", "ep", "--deployment-name", "blue", "-o", "table"}),
      0)
      << err_.str();
  auto gets = berthd_.requests("GET");
  EXPECT_EQ(gets.at(0).target, "/api/v1/jobs?endpoint=ep&deployment=blue&$top=1000");
  EXPECT_EQ(gets.at(1).target, "/api/v1/jobs?page=2");
  EXPECT_THAT(out_.str(), HasSubstr("Name  Status     Endpoint  Deployment  Progress    Created"));
  EXPECT_THAT(out_.str(), HasSubstr("j2    Running    ep        blue        4/10 (40%)"));
  EXPECT_THAT(out_.str(), HasSubstr("j1    Completed"));

  ASSERT_EQ(Berth({"batch-deployment", "list-jobs", "-n", "blue", "-e", "ep"}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("GET").at(2).target,
            "/api/v1/batch-endpoints/ep/deployments/blue/jobs?$top=1000");
  EXPECT_EQ(json::parse(out_.str()).size(), 2u);
  ASSERT_EQ(Berth({"batch-endpoint", "list-jobs", "-n", "ep"}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("GET").at(4).target, "/api/v1/batch-endpoints/ep/jobs?$top=1000");

  EXPECT_EQ(Berth({"compute", "delete", "-n", "cpu"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--yes"));
  ASSERT_EQ(Berth({"compute", "delete", "-n", "cpu", "--yes"}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("DELETE").back().target, "/api/v1/computes/cpu");
  ASSERT_EQ(Berth({"batch-deployment", "delete", "-n", "blue", "-e", "ep", "-y"}), 0);
  EXPECT_EQ(berthd_.requests("DELETE").back().target,
            "/api/v1/batch-endpoints/ep/deployments/blue");
}

TEST_F(BatchCommandsTest, ComputeCreateFromFlags) {
  berthd_.route = [](const RecordedRequest& r) { return JsonAnswer(201, json::parse(r.body)); };
  ASSERT_EQ(Berth({"compute", "create", "--name", "cpu", "--type", "amlcompute", "--min-instances",
                   "0", "--max-instances", "3", "--tier", "low_priority", "-o", "table"}),
            0)
      << err_.str();
  RecordedRequest put = berthd_.requests("PUT").back();
  EXPECT_EQ(put.target, "/api/v1/computes/cpu");
  EXPECT_EQ(json::parse(put.body), json({{"name", "cpu"},
                                         {"type", "amlcompute"},
                                         {"tier", "low_priority"},
                                         {"min_instances", 0},
                                         {"max_instances", 3}}));
  EXPECT_THAT(out_.str(), HasSubstr("cpu   amlcompute  low_priority  0    3"));
  EXPECT_EQ(Berth({"compute", "create", "--max-instances", "3"}), 2);
  EXPECT_EQ(Berth({"compute", "create", "-n", "c", "--tier", "spot"}), 2);
}

TEST_F(BatchCommandsTest, DataCreateUploadsALocalPath) {
  berthd_.route = [](const RecordedRequest& r) {
    if (r.method == "POST" && r.target == "/api/v1/data") {
      json doc = json::parse(r.body);
      if (doc.value("version", "") == "9") return ErrorAnswer(409, "Conflict", "exists", "version");
      if (!doc.contains("version")) doc["version"] = "1";
      return JsonAnswer(201, doc);
    }
    if (r.method == "POST" && r.target == "/api/v1/data/heart/versions/1/archive") {
      return JsonAnswer(200, {{"name", "heart"}, {"version", "1"}, {"archived", true}});
    }
    return JsonAnswer(200, {{"name", "heart"}, {"version", "2"}});
  };
  const std::string file = Write("heart.csv", "1,2\n");
  ASSERT_EQ(Berth({"data", "create", "--name", "heart", "--path", file, "-d", "rows"}), 0)
      << err_.str();
  EXPECT_EQ(berthd_.requests("PUT").size(), 1u);
  json doc = LastBody("POST");
  EXPECT_EQ(doc["name"], "heart");
  EXPECT_EQ(doc["path"], file);
  EXPECT_EQ(doc["type"], "uri_file");
  EXPECT_EQ(doc["description"], "rows");
  EXPECT_EQ(doc["artifact"]["is_file"], true);
  EXPECT_TRUE(berthd_.artifacts.count(doc["artifact"]["digest"]));
  EXPECT_EQ(json::parse(out_.str())["version"], "1");

  // From Azure's YAML: the path is relative to the file; a numeric version is a string.
  Write("assets/data/a.csv", "1\n");
  std::string yaml = Write("assets/data.yml",
                           "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
                           "name: heart\nversion: 9\ntype: uri_folder\npath: data\n");
  EXPECT_EQ(Berth({"data", "create", "-f", yaml}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("data asset heart version 9 already exists"));
  doc = LastBody("POST");
  EXPECT_EQ(doc["version"], "9");
  EXPECT_EQ(doc["path"], "data");
  EXPECT_EQ(doc["artifact"]["base_name"], "data");

  // A datastore path is not uploaded.
  ASSERT_EQ(Berth({"data", "create", "-n", "remote", "-p",
                   "azureml://datastores/workspaceblobstore/paths/heart"}),
            0)
      << err_.str();
  EXPECT_FALSE(LastBody("POST").contains("artifact"));
  EXPECT_EQ(berthd_.requests("PUT").size(), 2u);
  EXPECT_EQ(Berth({"data", "create", "-n", "x"}), 2);

  ASSERT_EQ(Berth({"data", "show", "-n", "heart", "--label", "latest", "-o", "table"}), 0);
  EXPECT_EQ(berthd_.requests("GET").back().target, "/api/v1/data/heart/versions/latest");
  EXPECT_THAT(out_.str(), HasSubstr("Name   Version  Type  Path"));
  EXPECT_EQ(Berth({"data", "show", "-n", "heart"}), 2);
  ASSERT_EQ(Berth({"data", "archive", "-n", "heart", "-v", "1"}), 0) << err_.str();
  EXPECT_EQ(json::parse(out_.str())["archived"], true);
}

TEST_F(BatchCommandsTest, JobDownloadExtractsIntoTheFolder) {
  std::string tar = MakeTar({{"named-outputs/score/predictions.csv", "a.csv 1\nb.csv 0\n"},
                             {"artifacts/logs/job_result.txt", "done\n"}});
  berthd_.route = [&tar](const RecordedRequest& r) {
    if (absl::StartsWith(r.target, "/api/v1/jobs/evil/download")) {
      return HttpResponse{
          200, {{"Content-Type", "application/x-tar"}}, MakeTar({{"../escaped.txt", "x"}})};
    }
    return HttpResponse{200, {{"Content-Type", "application/x-tar"}}, tar};
  };
  const fs::path into = dir_ / "results";
  ASSERT_EQ(Berth({"job", "download", "-n", "j", "--download-path", into.string()}), 0)
      << err_.str();
  EXPECT_EQ(berthd_.requests("GET").back().target, "/api/v1/jobs/j/download?output=score");
  EXPECT_EQ(berthd_.requests("GET").back().headers.at("accept"), "application/x-tar");
  std::ifstream in(into / "named-outputs/score/predictions.csv");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "a.csv 1\nb.csv 0\n");
  EXPECT_THAT(err_.str(), HasSubstr("named-outputs/score"));

  ASSERT_EQ(Berth({"job", "download", "-n", "j", "--all", "-p", into.string()}), 0) << err_.str();
  EXPECT_EQ(berthd_.requests("GET").back().target, "/api/v1/jobs/j/download?all=true");

  EXPECT_EQ(Berth({"job", "download", "-n", "evil", "-p", into.string()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("download entry '../escaped.txt' escapes the folder"));
  EXPECT_FALSE(fs::exists(dir_ / "escaped.txt"));
}

// berthd's answers to GET /jobs/j/log, one per poll: queued, running at 4/10, still 4/10, then
// the end with the last of the log, and the read that finds nothing more.
class StreamTest : public BatchCommandsTest {
 protected:
  void Script(const std::string& final_status) {
    auto answer = [](int offset, const std::string& text, const std::string& status, int done) {
      json job = {{"name", "j"}, {"status", status}, {"error", ""}};
      if (done >= 0) {
        job["progress"] = {{"mini_batches", {{"total", 10}, {"succeeded", done}, {"failed", 0}}},
                           {"items", {{"total", 50}, {"succeeded", done * 5}, {"failed", 0}}},
                           {"items_per_second", 12.5},
                           {"eta_seconds", 2.4}};
      }
      if (status == "Failed") {
        job["error"] = "2 files failed; error_threshold is 1";
        job["errors"] = {{{"mini_batch", 3},
                          {"files", {"f3.csv"}},
                          {"attempt", 2},
                          {"message", "ValueError: bad row"}}};
      }
      return json{{"offset", offset}, {"text", text}, {"job", job}};
    };
    answers_ = {answer(6, "start\n", "Queued", -1), answer(8, "a\n", "Running", 4),
                answer(8, "", "Running", 4), answer(13, "done\n", final_status, 10),
                answer(13, "", final_status, 10)};
    berthd_.route = [this](const RecordedRequest& r) {
      if (answers_.empty()) return ErrorAnswer(500, "Internal", "polled past the script");
      json next = answers_.front();
      answers_.pop_front();
      return JsonAnswer(200, next);
    };
  }

  std::deque<json> answers_;
};

TEST_F(StreamTest, PipePrintsTheLogAndAProgressLinePerChange) {
  Script("Completed");
  ASSERT_EQ(Berth({"job", "stream", "-n", "j"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "start\na\ndone\n");
  std::vector<std::string> targets;
  for (const RecordedRequest& r : berthd_.requests("GET")) targets.push_back(r.target);
  EXPECT_EQ(targets,
            (std::vector<std::string>{"/api/v1/jobs/j/log?offset=0", "/api/v1/jobs/j/log?offset=6",
                                      "/api/v1/jobs/j/log?offset=8", "/api/v1/jobs/j/log?offset=8",
                                      "/api/v1/jobs/j/log?offset=13"}));
  const std::string err = err_.str();
  EXPECT_THAT(err, Not(HasSubstr("\r")));
  EXPECT_THAT(err, HasSubstr("status: Queued\nstatus: Running\n"
                             "progress: mini-batches 4/10, items 20/50, failed 0, 12.5 items/s, "
                             "ETA 3s\nstatus: Completed\n"
                             "progress: mini-batches 10/10, items 50/50, failed 0, 12.5 items/s, "
                             "ETA 3s\nJob j: Completed\n"));
}

TEST_F(StreamTest, TerminalRedrawsOneBar) {
  Script("Completed");
  stderr_tty_ = true;
  ASSERT_EQ(Berth({"job", "stream", "-n", "j"}), 0) << err_.str();
  EXPECT_EQ(out_.str(), "start\na\ndone\n");
  const std::string err = err_.str();
  EXPECT_THAT(err, HasSubstr("\rRunning [########............]  40% | mini-batches 4/10 | "
                             "items 20/50 | failed 0 | 12.5 items/s | ETA 3s\x1b[K"));
  EXPECT_THAT(err, HasSubstr("\rCompleted [####################] 100%"));
  EXPECT_THAT(err, Not(HasSubstr("progress:")));
  EXPECT_THAT(err, HasSubstr("\nJob j: Completed\n"));
}

TEST_F(StreamTest, FailedJobExitsOneWithItsError) {
  Script("Failed");
  EXPECT_EQ(Berth({"job", "stream", "-n", "j"}), 1);
  EXPECT_EQ(out_.str(), "start\na\ndone\n");
  EXPECT_THAT(err_.str(), HasSubstr("Job j: Failed\n"));
  EXPECT_THAT(err_.str(), HasSubstr("  mini-batch 3, attempt 2 (f3.csv): ValueError: bad row\n"));
  EXPECT_THAT(err_.str(), HasSubstr("Error: job j Failed: 2 files failed; error_threshold is 1"));
}

}  // namespace
}  // namespace berth::cli
