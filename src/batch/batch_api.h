#pragma once
// BatchApi: the REST adapter of BatchService (docs/batch.md, "Management API"), added to
// ManagementApi as ApiRoutes: under /api/v1, /batch-endpoints, /computes, /data and /jobs;
// and Azure's invocation URL, the public paths /batch-endpoints/{e}/jobs[/{j}], answered in
// Azure's BatchJob shape. ManagementApi has checked the admin credential and calls Route on
// its blocking pool; errors map through http/errors.h.
//
// Threading: Route may be called concurrently (BatchService serialises its writes).

#include <map>
#include <string>
#include <vector>

#include "batch/batch_service.h"
#include "controlplane/management_api.h"

namespace berth::batch {

// The header naming the deployment of an invocation (Azure's).
inline constexpr char kDeploymentHeader[] = "azureml-model-deployment";

class BatchApi final : public controlplane::ApiRoutes {
 public:
  explicit BatchApi(BatchService& service) : service_(service) {}

  bool Owns(const std::vector<std::string>& parts, bool public_path) const override;
  http::Response Route(const http::Request& req, const std::vector<std::string>& parts,
                       const std::map<std::string, std::string>& query, bool public_path) override;

 private:
  http::Response RouteEndpoints(const http::Request& req, const std::vector<std::string>& parts,
                                const std::map<std::string, std::string>& query);
  http::Response RouteComputes(const http::Request& req, const std::vector<std::string>& parts,
                               const std::map<std::string, std::string>& query);
  http::Response RouteData(const http::Request& req, const std::vector<std::string>& parts,
                           const std::map<std::string, std::string>& query);
  http::Response RouteJobs(const http::Request& req, const std::vector<std::string>& parts,
                           const std::map<std::string, std::string>& query);
  http::Response RoutePublic(const http::Request& req, const std::vector<std::string>& parts);

  BatchService& service_;
};

// Azure's BatchJob resource for a job view: {"id": "/batch-endpoints/<e>/jobs/<j>", "name",
// "type", "properties": {"status", "provisioningState", "endpointName", "deploymentName",
// "inputData", "outputData", "output", ...}}.
nlohmann::json AzureJobJson(const nlohmann::json& view);

}  // namespace berth::batch
