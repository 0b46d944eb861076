#include "state/memory/memory_state_store.h"

#include <algorithm>

#include "common/status_macros.h"
#include "state/record_codec.h"

namespace berth::state {
namespace {

// The record as SQLite would hand it back: spec through JSON text, warnings checked storable.
absl::StatusOr<EndpointRecord> Normalized(const EndpointRecord& record) {
  EndpointRecord out = record;
  ASSIGN_OR_RETURN(out.spec,
                   internal::NormalizeSpec(record.spec, internal::EndpointRow(record.name)));
  return out;
}

absl::StatusOr<DeploymentRecord> Normalized(const DeploymentRecord& record) {
  const std::string row = internal::DeploymentRow(record.endpoint, record.name);
  DeploymentRecord out = record;
  ASSIGN_OR_RETURN(out.spec, internal::NormalizeSpec(record.spec, row));
  RETURN_IF_ERROR(internal::EncodeWarnings(record.warnings, row).status());
  return out;
}

absl::StatusOr<ModelRecord> Normalized(const ModelRecord& record) {
  ModelRecord out = record;
  ASSIGN_OR_RETURN(out.spec, internal::NormalizeSpec(
                                 record.spec, internal::ModelRow(record.name, record.version)));
  return out;
}

}  // namespace

absl::StatusOr<EndpointRecord> MemoryStateStore::GetEndpoint(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find(name);
  if (it == endpoints_.end()) return internal::EndpointNotFound(name);
  return it->second;
}

absl::StatusOr<std::vector<EndpointRecord>> MemoryStateStore::ListEndpoints() {
  absl::MutexLock lock(&mu_);
  std::vector<EndpointRecord> out;
  out.reserve(endpoints_.size());
  for (const auto& [name, record] : endpoints_) out.push_back(record);
  return out;
}

absl::Status MemoryStateStore::CreateEndpoint(const EndpointRecord& record) {
  ASSIGN_OR_RETURN(EndpointRecord normalized, Normalized(record));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = endpoints_.try_emplace(record.name, std::move(normalized));
  if (!inserted) return internal::EndpointExists(record.name);
  return absl::OkStatus();
}

absl::Status MemoryStateStore::UpdateEndpoint(const EndpointRecord& record) {
  ASSIGN_OR_RETURN(EndpointRecord normalized, Normalized(record));
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find(record.name);
  if (it == endpoints_.end()) return internal::EndpointNotFound(record.name);
  it->second = std::move(normalized);
  return absl::OkStatus();
}

absl::Status MemoryStateStore::DeleteEndpoint(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (endpoints_.erase(name) == 0) return internal::EndpointNotFound(name);
  auto first = deployments_.lower_bound(DeploymentKey(name, std::string()));
  auto last = first;
  while (last != deployments_.end() && last->first.first == name) ++last;
  deployments_.erase(first, last);
  return absl::OkStatus();
}

absl::StatusOr<DeploymentRecord> MemoryStateStore::GetDeployment(const std::string& endpoint,
                                                                 const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = deployments_.find(DeploymentKey(endpoint, name));
  if (it == deployments_.end()) return internal::DeploymentNotFound(endpoint, name);
  return it->second;
}

absl::StatusOr<std::vector<DeploymentRecord>> MemoryStateStore::ListDeployments(
    const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  std::vector<DeploymentRecord> out;
  for (auto it = deployments_.lower_bound(DeploymentKey(endpoint, std::string()));
       it != deployments_.end() && it->first.first == endpoint; ++it) {
    out.push_back(it->second);
  }
  return out;
}

absl::Status MemoryStateStore::CreateDeployment(const DeploymentRecord& record) {
  ASSIGN_OR_RETURN(DeploymentRecord normalized, Normalized(record));
  absl::MutexLock lock(&mu_);
  if (!endpoints_.contains(record.endpoint)) return internal::EndpointNotFound(record.endpoint);
  auto [it, inserted] =
      deployments_.try_emplace(DeploymentKey(record.endpoint, record.name), std::move(normalized));
  if (!inserted) return internal::DeploymentExists(record.endpoint, record.name);
  return absl::OkStatus();
}

absl::Status MemoryStateStore::UpdateDeployment(const DeploymentRecord& record) {
  ASSIGN_OR_RETURN(DeploymentRecord normalized, Normalized(record));
  absl::MutexLock lock(&mu_);
  if (!endpoints_.contains(record.endpoint)) return internal::EndpointNotFound(record.endpoint);
  auto it = deployments_.find(DeploymentKey(record.endpoint, record.name));
  if (it == deployments_.end()) return internal::DeploymentNotFound(record.endpoint, record.name);
  it->second = std::move(normalized);
  return absl::OkStatus();
}

absl::Status MemoryStateStore::DeleteDeployment(const std::string& endpoint,
                                                const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (deployments_.erase(DeploymentKey(endpoint, name)) == 0) {
    return internal::DeploymentNotFound(endpoint, name);
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelRecord> MemoryStateStore::GetModel(const std::string& name,
                                                       const std::string& version) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(ModelKey(name, version));
  if (it == models_.end()) return internal::ModelNotFound(name, version);
  return it->second;
}

absl::StatusOr<std::vector<ModelRecord>> MemoryStateStore::ListModels(const std::string& name) {
  std::vector<ModelRecord> out;
  {
    absl::MutexLock lock(&mu_);
    auto it = name.empty() ? models_.begin() : models_.lower_bound(ModelKey(name, std::string()));
    for (; it != models_.end() && (name.empty() || it->first.first == name); ++it) {
      out.push_back(it->second);
    }
  }
  std::sort(out.begin(), out.end(), internal::ModelOrderLess);
  return out;
}

absl::Status MemoryStateStore::CreateModel(const ModelRecord& record) {
  ASSIGN_OR_RETURN(ModelRecord normalized, Normalized(record));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] =
      models_.try_emplace(ModelKey(record.name, record.version), std::move(normalized));
  if (!inserted) return internal::ModelExists(record.name, record.version);
  return absl::OkStatus();
}

absl::Status MemoryStateStore::DeleteModel(const std::string& name, const std::string& version) {
  absl::MutexLock lock(&mu_);
  if (models_.erase(ModelKey(name, version)) == 0) return internal::ModelNotFound(name, version);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> MemoryStateStore::GetSetting(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = settings_.find(key);
  if (it == settings_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::Status MemoryStateStore::PutSetting(const std::string& key, const std::string& value) {
  absl::MutexLock lock(&mu_);
  settings_.insert_or_assign(key, value);
  return absl::OkStatus();
}

}  // namespace berth::state
