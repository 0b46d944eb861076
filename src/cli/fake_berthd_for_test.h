#pragma once
// A fake berthd that follows docs/api.md, and a fixture that runs `berth` commands against it,
// for the CLI's end-to-end tests.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/cli.h"
#include "cli/cli_runner_for_test.h"
#include "cli/fake_http_server_for_test.h"
#include "gtest/gtest.h"

namespace berth::cli {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ErrorAnswer;
using testing::FakeHttpServer;
using testing::JsonAnswer;
using testing::RecordedRequest;

// In-memory berthd: writes leave resources in Creating/Updating/Deleting until the next GET.
class FakeBerthd {
 public:
  FakeBerthd() : server_([this](const RecordedRequest& r) { return Handle(r); }) {}

  std::string url() const { return server_.url(); }
  std::vector<RecordedRequest> requests() const { return server_.requests(); }
  std::vector<RecordedRequest> requests(const std::string& method) const {
    std::vector<RecordedRequest> out;
    for (const RecordedRequest& r : server_.requests()) {
      if (r.method == method) out.push_back(r);
    }
    return out;
  }

  std::mutex mu;
  std::map<std::string, json> resources;  // by API path below /api/v1
  std::set<std::string> artifacts;
  std::string fail_reason;        // non-empty: deployments end Failed
  bool scoring_needs_key = true;  // false: as berthd --no-scoring-auth
  size_t page_size = 0;           // non-zero: lists come in pages of this size, chained by nextLink

 private:
  HttpResponse Handle(const RecordedRequest& r) {
    std::lock_guard lock(mu);
    if (r.target == "/healthz") return HttpResponse{200, {}, "berthd is running\n"};
    if (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer tok") {
      if (!absl::StartsWith(r.target, "/endpoints/")) {
        return ErrorAnswer(401, "Unauthorized", "missing or wrong admin token");
      }
    }
    std::string target = r.target;
    std::string query;
    if (size_t q = target.find('?'); q != std::string::npos) {
      query = target.substr(q + 1);
      target.resize(q);
    }
    if (absl::StartsWith(target, "/endpoints/")) return Score(r);
    std::string path = target.substr(std::string("/api/v1").size());
    std::vector<std::string> parts = absl::StrSplit(path.substr(1), '/');

    if (parts[0] == "artifacts") {
      if (r.method == "HEAD") {
        return artifacts.count(parts[1]) ? JsonAnswer(200, json::object())
                                         : ErrorAnswer(404, "NotFound", "no such artifact");
      }
      artifacts.insert(parts[1]);
      return JsonAnswer(201, json::object());
    }
    // /online-endpoints[/e[/keys|/token|/regenerate-keys|/deployments[/d[/logs]]]]
    bool collection = parts.size() == 1 || (parts.size() == 3 && parts[2] == "deployments");
    if (parts.size() == 3 && parts[2] == "keys") {
      return JsonAnswer(200, {{"primaryKey", "pk"}, {"secondaryKey", "sk"}});
    }
    if (parts.size() == 3 && parts[2] == "token") {
      return JsonAnswer(200, {{"accessToken", "at"}, {"tokenType", "Bearer"}});
    }
    if (parts.size() == 3 && parts[2] == "regenerate-keys") {
      return JsonAnswer(
          200, {{"primaryKey", "new-" + json::parse(r.body)["key_type"].get<std::string>()},
                {"secondaryKey", "sk"}});
    }
    if (parts.size() == 5 && parts[4] == "logs") {
      return HttpResponse{200, {{"Content-Type", "text/plain"}}, "query " + query};
    }
    if (collection && r.method == "GET") {
      // As berthd: by name, after the $skiptoken (the previous page's last name).
      std::string after;
      if (size_t token = query.find("$skiptoken="); token != std::string::npos) {
        after = query.substr(token + std::string("$skiptoken=").size());
      }
      json value = json::array();
      std::string next_link;
      for (const auto& [key, resource] : resources) {
        std::string rest = key.substr(std::min(key.size(), path.size()));
        if (absl::StartsWith(key, path + "/") && rest.find('/', 1) == std::string::npos &&
            resource["name"].get<std::string>() > after) {
          if (page_size != 0 && value.size() == page_size) {
            next_link =
                url() + "/api/v1" + path + "?$skiptoken=" + value.back()["name"].get<std::string>();
            break;
          }
          value.push_back(resource);
        }
      }
      json page = {{"value", value}};
      if (!next_link.empty()) page["nextLink"] = next_link;
      return JsonAnswer(200, page);
    }
    if (collection && r.method == "POST") {
      json doc = json::parse(r.body);
      std::string item = path + "/" + doc["name"].get<std::string>();
      if (resources.count(item)) return ErrorAnswer(409, "Conflict", "it exists");
      doc["provisioning_state"] = "Creating";
      doc["warnings"] = json::array({"instance_type is accepted but not honoured"});
      if (parts.size() == 1) {
        doc["auth_mode"] = doc.value("auth_mode", "key");
        doc["scoring_uri"] = url() + "/endpoints/" + doc["name"].get<std::string>() + "/score";
        doc["traffic"] = json::object();
      }
      resources[item] = doc;
      return JsonAnswer(201, doc);
    }
    auto it = resources.find(path);
    if (it == resources.end()) return ErrorAnswer(404, "NotFound", "not found: " + path);
    json& resource = it->second;
    if (r.method == "GET") {
      std::string state = resource["provisioning_state"];
      json answer = resource;
      if (state == "Deleting") {
        resources.erase(it);
      } else if (state == "Creating" || state == "Updating") {
        bool fails = !fail_reason.empty() && parts.size() == 4;
        resource["provisioning_state"] = fails ? "Failed" : "Succeeded";
        resource["reason"] = fails ? fail_reason : "";
      }
      return JsonAnswer(200, answer);
    }
    if (r.method == "PATCH") {
      json update = json::parse(r.body);
      for (const auto& [key, value] : update.items()) resource[key] = value;
      resource["provisioning_state"] = "Updating";
      return JsonAnswer(200, resource);
    }
    if (r.method == "DELETE") {
      resource["provisioning_state"] = "Deleting";
      return JsonAnswer(202, resource);
    }
    return ErrorAnswer(400, "BadArgument", "unsupported");
  }

  HttpResponse Score(const RecordedRequest& r) {
    if (scoring_needs_key &&
        (r.headers.count("authorization") == 0 || r.headers.at("authorization") != "Bearer pk")) {
      return ErrorAnswer(401, "Unauthorized", "bad key");
    }
    if (r.body.find("fail") != std::string::npos) {
      return HttpResponse{424,
                          {{"ms-azureml-model-error-statuscode", "500"},
                           {"ms-azureml-model-error-reason", "model crashed"}},
                          "{\"message\": \"model crashed\"}"};
    }
    std::string deployment = r.headers.count("azureml-model-deployment")
                                 ? r.headers.at("azureml-model-deployment")
                                 : "blue";
    return JsonAnswer(200, {{"served_by", deployment}, {"echo", json::parse(r.body)}});
  }

  FakeHttpServer server_;
};

class CliTest : public CliRunnerTest {
 protected:
  std::string ServerUrl() const override { return berthd_.url(); }
  FakeBerthd berthd_;
};

}  // namespace berth::cli
