// `berth model ...` against a fake berthd that keeps registered models as docs/api.md says.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "cli/cli.h"
#include "cli/cli_runner_for_test.h"
#include "cli/fake_http_server_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ErrorAnswer;
using testing::FakeHttpServer;
using ::testing::HasSubstr;
using testing::JsonAnswer;
using ::testing::Not;
using testing::RecordedRequest;

class FakeRegistry {
 public:
  FakeRegistry() : server_([this](const RecordedRequest& r) { return Handle(r); }) {}

  std::string url() const { return server_.url(); }
  std::vector<RecordedRequest> requests(const std::string& method) const {
    std::vector<RecordedRequest> out;
    for (const RecordedRequest& r : server_.requests()) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }

  std::mutex mu;
  std::map<std::string, json> models;  // "name/version"
  std::set<std::string> artifacts;
  std::set<std::string> used;  // "name/version" a deployment uses

 private:
  HttpResponse Handle(const RecordedRequest& r) {
    std::lock_guard lock(mu);
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer tok") {
      return ErrorAnswer(401, "Unauthorized", "missing or wrong admin token");
    }
    std::string target = r.target.substr(std::string("/api/v1").size());
    std::string query;
    if (size_t q = target.find('?'); q != std::string::npos) {
      query = target.substr(q + 1);
      target.resize(q);
    }
    std::vector<std::string> parts = absl::StrSplit(target.substr(1), '/');
    if (parts[0] == "artifacts") {
      if (r.method == "HEAD") {
        return artifacts.count(parts[1]) ? JsonAnswer(200, json::object())
                                         : ErrorAnswer(404, "NotFound", "no such artifact");
      }
      artifacts.insert(parts[1]);
      return JsonAnswer(201, json::object());
    }
    if (parts.size() == 1 && r.method == "GET") {
      std::string name_filter;  // the query also carries $top (the CLI's page size)
      for (absl::string_view arg : absl::StrSplit(query, '&')) {
        if (absl::StartsWith(arg, "name=")) name_filter = std::string(arg.substr(5));
      }
      json value = json::array();
      for (const auto& [key, model] : models) {
        if (name_filter.empty() || name_filter == model["name"].get<std::string>()) {
          value.push_back(model);
        }
      }
      return JsonAnswer(200, {{"value", value}});
    }
    if (parts.size() == 1 && r.method == "POST") {
      json doc = json::parse(r.body);
      if (!doc.contains("version")) doc["version"] = "1";
      std::string key = doc["name"].get<std::string>() + "/" + doc["version"].get<std::string>();
      if (models.count(key)) return ErrorAnswer(409, "Conflict", "it exists", "version");
      if (!artifacts.count(doc["artifact"]["digest"].get<std::string>())) {
        return ErrorAnswer(404, "NotFound", "artifact not uploaded", "artifact");
      }
      doc["created_at"] = "2026-11-24T20:00:00Z";
      models[key] = doc;
      return JsonAnswer(201, doc);
    }
    if (parts.size() == 4 && parts[2] == "versions") {
      std::string version = parts[3];
      if (version == "latest") {
        for (const auto& [key, model] : models) {
          if (model["name"] == parts[1]) version = model["version"];
        }
      }
      auto it = models.find(parts[1] + "/" + version);
      if (it == models.end()) return ErrorAnswer(404, "NotFound", "model not found");
      if (r.method == "GET") return JsonAnswer(200, it->second);
      if (r.method == "DELETE") {
        if (used.count(it->first)) {
          return ErrorAnswer(409, "Conflict", "used by deployment ep/blue");
        }
        models.erase(it);
        return HttpResponse{204, {}, ""};
      }
    }
    return ErrorAnswer(400, "BadArgument", "unsupported");
  }

  FakeHttpServer server_;
};

class ModelCommandsTest : public CliRunnerTest {
 protected:
  std::string ServerUrl() const override { return registry_.url(); }
  FakeRegistry registry_;
};

TEST_F(ModelCommandsTest, CreateFromFlagsUploadsThePathOnce) {
  Write("model/w.txt", "weights");
  const std::string path = (dir_ / "model").string();
  ASSERT_EQ(Berth({"model", "create", "--name", "m", "--path", path, "--type", "mlflow_model",
                   "--description", "first"}),
            0)
      << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr("Uploading path model ("));
  ASSERT_EQ(registry_.requests("PUT").size(), 1u);
  RecordedRequest post = registry_.requests("POST").at(0);
  EXPECT_EQ(post.target, "/api/v1/models");
  json doc = json::parse(post.body);
  EXPECT_EQ(doc["name"], "m");
  EXPECT_FALSE(doc.contains("version"));  // the server picks the next one
  EXPECT_EQ(doc["type"], "mlflow_model");
  EXPECT_EQ(doc["description"], "first");
  EXPECT_EQ(doc["path"], path);
  EXPECT_EQ(doc["artifact"]["base_name"], "model");
  EXPECT_EQ(doc["artifact"]["is_file"], false);
  EXPECT_TRUE(registry_.artifacts.count(doc["artifact"]["digest"]));
  EXPECT_EQ(Out()["version"], "1");

  // The same folder again as version 2: HEAD says it is stored, nothing is uploaded.
  ASSERT_EQ(Berth({"model", "create", "-n", "m", "-v", "2", "-p", path}), 0) << err_.str();
  EXPECT_EQ(registry_.requests("PUT").size(), 1u);
  EXPECT_EQ(json::parse(registry_.requests("POST").back().body)["version"], "2");

  EXPECT_EQ(Berth({"model", "create", "-n", "m", "-v", "2", "-p", path}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("model m version 2 already exists"));
}

TEST_F(ModelCommandsTest, CreateFromAzureModelYamlResolvesPathAgainstTheFile) {
  Write("assets/model/sklearn_regression_model.pkl", "pickle");
  std::string file =
      Write("assets/model.yml",
            "$schema: https://azuremlschemas.azureedge.net/latest/model.schema.json\n"
            "name: sklearn-regression\n"
            "version: 3\n"
            "path: model/sklearn_regression_model.pkl\n"
            "type: custom_model\n"
            "description: a regression model\n"
            "tags: {framework: sklearn}\n");
  ASSERT_EQ(Berth({"model", "create", "-f", file, "-o", "yaml"}), 0) << err_.str();
  json doc = json::parse(registry_.requests("POST").at(0).body);
  EXPECT_EQ(doc["name"], "sklearn-regression");
  EXPECT_EQ(doc["version"], "3");
  EXPECT_EQ(doc["tags"], json({{"framework", "sklearn"}}));
  EXPECT_EQ(doc["path"], "model/sklearn_regression_model.pkl");
  EXPECT_EQ(doc["artifact"]["base_name"], "sklearn_regression_model.pkl");
  EXPECT_EQ(doc["artifact"]["is_file"], true);
  EXPECT_FALSE(doc.contains("$schema"));
  EXPECT_THAT(out_.str(), HasSubstr("name: sklearn-regression\n"));

  // Flags win over the file.
  ASSERT_EQ(Berth({"model", "create", "-f", file, "--version", "4"}), 0) << err_.str();
  EXPECT_EQ(json::parse(registry_.requests("POST").back().body)["version"], "4");
}

TEST_F(ModelCommandsTest, CreateRefusesBadInputBeforeUploading) {
  EXPECT_EQ(Berth({"model", "create", "--path", "x"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--name"));
  EXPECT_EQ(Berth({"model", "create", "--name", "m"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--path"));
  EXPECT_EQ(Berth({"model", "create", "--name", "-bad", "--path", "x"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: name: "));
  EXPECT_EQ(Berth({"model", "create", "--name", "m", "--path", (dir_ / "absent").string()}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("Error: path: "));
  EXPECT_EQ(Berth({"model", "create", "--name", "m", "--path", "azureml://datastores/x"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("local folders and files only"));
  std::string file = Write("bad.yml", "name: m\npth: ./model\n");
  EXPECT_EQ(Berth({"model", "create", "-f", file, "--path", "x"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr(file + ": pth: unknown field 'pth'; did you mean 'path'?"));
  EXPECT_TRUE(registry_.requests("POST").empty());
  EXPECT_TRUE(registry_.requests("PUT").empty());
}

TEST_F(ModelCommandsTest, ListShowAndDelete) {
  Write("model/w.txt", "weights");
  const std::string path = (dir_ / "model").string();
  ASSERT_EQ(Berth({"model", "create", "-n", "m", "-v", "1", "-p", path}), 0) << err_.str();
  ASSERT_EQ(Berth({"model", "create", "-n", "m", "-v", "2", "-p", path}), 0) << err_.str();
  ASSERT_EQ(Berth({"model", "create", "-n", "other", "-p", path}), 0) << err_.str();

  ASSERT_EQ(Berth({"model", "list"}), 0) << err_.str();
  EXPECT_EQ(Out().size(), 3u);
  ASSERT_EQ(Berth({"model", "list", "--name", "m", "-o", "table"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("Name  Version  Type"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("other")));

  ASSERT_EQ(Berth({"model", "show", "--name", "m", "--version", "1"}), 0) << err_.str();
  EXPECT_EQ(Out()["version"], "1");
  ASSERT_EQ(Berth({"model", "show", "--name", "m", "--label", "latest"}), 0) << err_.str();
  EXPECT_EQ(Out()["version"], "2");
  EXPECT_EQ(registry_.requests("GET").back().target, "/api/v1/models/m/versions/latest");
  EXPECT_EQ(Berth({"model", "show", "--name", "m"}), 2);
  EXPECT_EQ(Berth({"model", "show", "--name", "m", "--label", "newest"}), 2);
  EXPECT_EQ(Berth({"model", "show", "--name", "m", "--version", "1", "--label", "latest"}), 2);
  EXPECT_EQ(Berth({"model", "show", "--name", "m", "--version", "9"}), 1);

  EXPECT_EQ(Berth({"model", "delete", "--name", "m", "--version", "1"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--yes"));
  registry_.used.insert("m/1");
  EXPECT_EQ(Berth({"model", "delete", "--name", "m", "--version", "1", "--yes"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("used by deployment ep/blue"));
  registry_.used.clear();
  ASSERT_EQ(Berth({"model", "delete", "--name", "m", "--version", "1", "--yes"}), 0) << err_.str();
  EXPECT_EQ(registry_.requests("DELETE").back().target, "/api/v1/models/m/versions/1");
  EXPECT_EQ(registry_.models.count("m/1"), 0u);
  EXPECT_THAT(err_.str(), HasSubstr("Deleted version 1 of model m"));
}

}  // namespace
}  // namespace berth::cli
