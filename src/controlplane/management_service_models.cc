// ManagementService: the model registry operations (kept apart from management_service.cc,
// which holds the endpoint and deployment rules).

#include "common/status_macros.h"
#include "controlplane/management_service.h"
#include "core/model_asset.h"

namespace berth::controlplane {

using nlohmann::json;

absl::StatusOr<json> ManagementService::ListModels(const std::string& name) {
  ASSIGN_OR_RETURN(ModelRegistry * models, Models());
  ASSIGN_OR_RETURN(std::vector<state::ModelRecord> records, models->List(name));
  json list = json::array();
  for (const state::ModelRecord& record : records) list.push_back(ModelView(record));
  return json{{"value", std::move(list)}};
}

absl::StatusOr<json> ManagementService::GetModel(const std::string& name,
                                                 const std::string& version) {
  ASSIGN_OR_RETURN(ModelRegistry * models, Models());
  ASSIGN_OR_RETURN(state::ModelRecord record, models->Get(name, version));
  return ModelView(record);
}

absl::StatusOr<json> ManagementService::CreateModel(const json& doc) {
  ASSIGN_OR_RETURN(ModelRegistry * models, Models());
  ASSIGN_OR_RETURN(core::ModelAsset asset, core::ParseModelDocument(doc));
  ASSIGN_OR_RETURN(state::ModelRecord record, models->Create(asset));
  return ModelView(record);
}

absl::Status ManagementService::DeleteModel(const std::string& name, const std::string& version) {
  ASSIGN_OR_RETURN(ModelRegistry * models, Models());
  // Under the write lock: no deployment write can resolve the version between the registry's
  // "unused" check and the removal.
  absl::MutexLock lock(&write_mu_);
  return models->Delete(name, version);
}

}  // namespace berth::controlplane
