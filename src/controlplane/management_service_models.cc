// ManagementService: the model registry operations (kept apart from management_service.cc,
// which holds the endpoint and deployment rules).

#include "common/status_macros.h"
#include "controlplane/management_service.h"
#include "core/model_asset.h"
#include "state/record_codec.h"

namespace berth::controlplane {

using nlohmann::json;

absl::StatusOr<Page> ManagementService::ListModels(const std::string& name,
                                                   const PageRequest& request) {
  ASSIGN_OR_RETURN(ModelRegistry * models, Models());
  ASSIGN_OR_RETURN(std::vector<state::ModelRecord> records, models->List(name));
  // The token is the last item's "<name>/<version>"; items after it in the store's order.
  state::ModelRecord last;
  std::string_view token = request.skip_token;
  size_t slash = token.find('/');
  last.name = std::string(token.substr(0, slash));
  if (slash != std::string_view::npos) last.version = std::string(token.substr(slash + 1));
  Slice<state::ModelRecord> slice = PageOf(records, request, [&](const state::ModelRecord& record) {
    return state::internal::ModelOrderLess(last, record);
  });
  Page page;
  for (const state::ModelRecord& record : slice.items) page.value.push_back(ModelView(record));
  if (slice.more) {
    page.next_token = slice.items.back().name + "/" + slice.items.back().version;
  }
  return page;
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
