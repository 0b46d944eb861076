// BatchApi over a real BatchService: status codes, the query flags, and Azure's invocation URL
// answering in Azure's BatchJob shape.

#include "batch/batch_api.h"

#include <fstream>

#include "absl/strings/str_split.h"
#include "batch/fake_job_runner.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "state/memory/memory_state_store.h"
#include "state/test_temp_dir.h"

namespace berth::batch {
namespace {

namespace bhttp = http::bhttp;
namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::StartsWith;

const std::string kStore = "azureml://datastores/workspaceblobstore/paths/";

class BatchApiTest : public ::testing::Test {
 protected:
  BatchApiTest() {
    EXPECT_TRUE(service_.Init().ok());
    const fs::path input = dir_.path() / "datastores" / "workspaceblobstore" / "inputs" / "a.csv";
    fs::create_directories(input.parent_path());
    std::ofstream(input) << "1";
    for (const std::string& digest : {kModelDigest, kCodeDigest}) {
      fs::create_directories(artifacts_.PathOf(digest));
      std::ofstream(artifacts_.PathOf(digest) / "f") << "x";
    }
  }

  // Sends `method target` with `body` (and `headers`) the way ManagementApi hands it over.
  http::Response Send(bhttp::verb method, const std::string& target, const json& body = nullptr,
                      const std::map<std::string, std::string>& headers = {}) {
    http::Request req{method, target, 11};
    if (!body.is_null()) req.body() = body.dump();
    for (const auto& [name, value] : headers) req.set(name, value);
    req.prepare_payload();
    std::string_view path = target;
    std::map<std::string, std::string> query;
    if (auto q = path.find('?'); q != std::string_view::npos) {
      std::vector<std::string> pairs = absl::StrSplit(std::string(path.substr(q + 1)), '&');
      for (std::string_view pair : pairs) {
        auto eq = pair.find('=');
        query[std::string(pair.substr(0, eq))] =
            eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
      }
      path = path.substr(0, q);
    }
    const bool public_path = !path.starts_with("/api/v1");
    if (!public_path) path.remove_prefix(std::string_view("/api/v1").size());
    std::vector<std::string> parts = absl::StrSplit(std::string(path), '/', absl::SkipEmpty());
    EXPECT_TRUE(api_.Owns(parts, public_path)) << target;
    return api_.Route(req, parts, query, public_path);
  }

  static json Body(const http::Response& res) { return json::parse(res.body()); }

  json Deployment() {
    return {{"type", "model"},
            {"model",
             {{"name", "m"},
              {"path", "model"},
              {"artifact", {{"digest", kModelDigest}, {"base_name", "model"}}}}},
            {"code_configuration",
             {{"code", "src"},
              {"scoring_script", "score.py"},
              {"artifact", {{"digest", kCodeDigest}, {"base_name", "src"}}}}}};
  }

  const std::string kModelDigest = "sha256:" + std::string(64, 'a');
  const std::string kCodeDigest = "sha256:" + std::string(64, 'b');
  state::TestTempDir dir_;
  state::MemoryStateStore store_;
  controlplane::ArtifactStore artifacts_{dir_.path()};
  ManualClock clock_;
  DefaultRandom random_{3};
  FakeJobRunner runner_;
  BatchService service_{
      store_, artifacts_, nullptr, clock_, random_, runner_, {dir_.path(), "http://berth:8080"}};
  BatchApi api_{service_};
};

TEST_F(BatchApiTest, OwnsOnlyBatchRoutes) {
  EXPECT_TRUE(api_.Owns({"computes"}, false));
  EXPECT_TRUE(api_.Owns({"jobs", "j"}, false));
  EXPECT_FALSE(api_.Owns({"online-endpoints"}, false));
  EXPECT_TRUE(api_.Owns({"batch-endpoints", "e", "jobs"}, true));
  EXPECT_FALSE(api_.Owns({"computes"}, true));
}

TEST_F(BatchApiTest, StatusCodesAndAzureInvocation) {
  EXPECT_EQ(Send(bhttp::verb::put, "/api/v1/batch-endpoints/ep1", json::object()).result(),
            bhttp::status::created);
  EXPECT_EQ(Send(bhttp::verb::put, "/api/v1/batch-endpoints/ep1", {{"description", "d"}}).result(),
            bhttp::status::ok);
  EXPECT_EQ(Send(bhttp::verb::patch, "/api/v1/batch-endpoints/absent", json::object()).result(),
            bhttp::status::not_found);
  http::Response bad_flag =
      Send(bhttp::verb::put, "/api/v1/batch-endpoints/ep1/deployments/blue?set_default=maybe",
           Deployment());
  EXPECT_EQ(bad_flag.result(), bhttp::status::bad_request);
  EXPECT_EQ(Body(bad_flag)["error"]["target"], "set_default");

  // No default yet: Azure's message, 400 on `deployment`.
  http::Response no_default = Send(bhttp::verb::post, "/batch-endpoints/ep1/jobs",
                                   {{"input", {{"path", kStore + "inputs"}}}});
  EXPECT_EQ(no_default.result(), bhttp::status::bad_request) << no_default.body();
  EXPECT_EQ(Body(no_default)["error"]["target"], "deployment");
  EXPECT_EQ(Send(bhttp::verb::put, "/api/v1/batch-endpoints/ep1/deployments/blue?set_default=true",
                 Deployment())
                .result(),
            bhttp::status::created);

  json azure_body = {
      {"properties",
       {{"InputData", {{"heart", {{"JobInputType", "UriFolder"}, {"Uri", kStore + "inputs"}}}}}}}};
  http::Response invoked = Send(bhttp::verb::post, "/batch-endpoints/ep1/jobs", azure_body,
                                {{"azureml-model-deployment", "blue"}});
  ASSERT_EQ(invoked.result(), bhttp::status::created) << invoked.body();
  json job = Body(invoked);
  const std::string name = job["name"];
  EXPECT_EQ(job["id"], "/batch-endpoints/ep1/jobs/" + name);
  EXPECT_EQ(job["properties"]["status"], "NotStarted");
  EXPECT_EQ(job["properties"]["provisioningState"], "Succeeded");
  EXPECT_EQ(job["properties"]["output"]["datastoreId"], "workspaceblobstore");
  EXPECT_EQ(job["properties"]["output"]["path"], "azureml/" + name + "/score");

  http::Response polled = Send(bhttp::verb::get, "/batch-endpoints/ep1/jobs/" + name);
  ASSERT_EQ(polled.result(), bhttp::status::ok);
  EXPECT_EQ(Body(polled)["properties"]["status"], "NotStarted");
  EXPECT_EQ(Send(bhttp::verb::get, "/batch-endpoints/other/jobs/" + name).result(),
            bhttp::status::not_found);

  http::Response shown = Send(bhttp::verb::get, "/api/v1/jobs/" + name);
  ASSERT_EQ(shown.result(), bhttp::status::ok);
  EXPECT_EQ(Body(shown)["deployment_name"], "blue");
  http::Response list = Send(bhttp::verb::get, "/api/v1/jobs?endpoint=ep1");
  ASSERT_EQ(list.result(), bhttp::status::ok);
  EXPECT_EQ(Body(list)["value"].size(), 1u);
  http::Response tar = Send(bhttp::verb::get, "/api/v1/jobs/" + name + "/download?all=true");
  ASSERT_EQ(tar.result(), bhttp::status::ok);
  EXPECT_EQ(tar[bhttp::field::content_type], "application/x-tar");
  EXPECT_EQ(Send(bhttp::verb::delete_, "/api/v1/batch-endpoints/ep1").result(), bhttp::status::ok);
  EXPECT_EQ(Send(bhttp::verb::get, "/api/v1/jobs/" + name + "/x/y").result(),
            bhttp::status::not_found);
}

}  // namespace
}  // namespace berth::batch
