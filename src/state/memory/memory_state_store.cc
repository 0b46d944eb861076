#include "state/memory/memory_state_store.h"

#include <algorithm>
#include <utility>

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

MemoryStateStore::MemoryStateStore(int64_t change_retention)
    : change_retention_(std::max<int64_t>(change_retention, 1)) {}

// ---- Endpoints and deployments: reads ----

absl::StatusOr<EndpointRecord> MemoryStateStore::GetEndpoint(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = endpoints_.find(internal::FoldName(name));
  if (it == endpoints_.end()) return internal::EndpointNotFound(name);
  return it->second;
}

absl::StatusOr<std::vector<EndpointRecord>> MemoryStateStore::ListEndpoints() {
  std::vector<EndpointRecord> out;
  {
    absl::MutexLock lock(&mu_);
    out.reserve(endpoints_.size());
    for (const auto& [key, record] : endpoints_) out.push_back(record);
  }
  // Keyed by folded name, listed by name as stored, byte-wise.
  std::sort(out.begin(), out.end(),
            [](const EndpointRecord& a, const EndpointRecord& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<DeploymentRecord> MemoryStateStore::GetDeployment(const std::string& endpoint,
                                                                 const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it =
      deployments_.find(DeploymentKey(internal::FoldName(endpoint), internal::FoldName(name)));
  if (it == deployments_.end()) return internal::DeploymentNotFound(endpoint, name);
  return it->second;
}

absl::StatusOr<std::vector<DeploymentRecord>> MemoryStateStore::ListDeployments(
    const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  std::vector<DeploymentRecord> out;
  for (auto it : DeploymentsOfLocked(internal::FoldName(endpoint))) out.push_back(it->second);
  return out;
}

std::vector<std::map<MemoryStateStore::DeploymentKey, DeploymentRecord>::iterator>
MemoryStateStore::DeploymentsOfLocked(const std::string& endpoint_key) {
  std::vector<std::map<DeploymentKey, DeploymentRecord>::iterator> out;
  for (auto it = deployments_.lower_bound(DeploymentKey(endpoint_key, std::string()));
       it != deployments_.end() && it->first.first == endpoint_key; ++it) {
    out.push_back(it);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a->second.name < b->second.name; });
  return out;
}

// ---- Endpoints and deployments: writes ----

absl::Status MemoryStateStore::CreateEndpoint(const EndpointRecord& record) {
  return Commit(WriteBatch().CreateEndpoint(record)).status();
}

absl::Status MemoryStateStore::UpdateEndpoint(const EndpointRecord& record) {
  return Commit(WriteBatch().UpdateEndpoint(record)).status();
}

absl::Status MemoryStateStore::DeleteEndpoint(const std::string& name) {
  return Commit(WriteBatch().DeleteEndpoint(name)).status();
}

absl::Status MemoryStateStore::CreateDeployment(const DeploymentRecord& record) {
  return Commit(WriteBatch().CreateDeployment(record)).status();
}

absl::Status MemoryStateStore::UpdateDeployment(const DeploymentRecord& record) {
  return Commit(WriteBatch().UpdateDeployment(record)).status();
}

absl::Status MemoryStateStore::DeleteDeployment(const std::string& endpoint,
                                                const std::string& name) {
  return Commit(WriteBatch().DeleteDeployment(endpoint, name)).status();
}

absl::StatusOr<int64_t> MemoryStateStore::Commit(const WriteBatch& batch) {
  absl::MutexLock lock(&mu_);
  Pending pending;
  pending.revision = revision_;
  for (const WriteBatch::Op& op : batch.ops()) {
    absl::Status status = op.kind == RecordKind::kEndpoint
                              ? ApplyEndpointLocked(op.action, op.endpoint, pending)
                              : ApplyDeploymentLocked(op.action, op.deployment, pending);
    if (!status.ok()) {
      RollBackLocked(pending);
      return status;
    }
  }
  for (Change& change : pending.changes) changes_.push_back(std::move(change));
  revision_ = pending.revision;
  while (static_cast<int64_t>(changes_.size()) > change_retention_) {
    pruned_through_ = changes_.front().revision;
    changes_.pop_front();
  }
  return revision_;
}

absl::Status MemoryStateStore::ApplyEndpointLocked(WriteBatch::Action action,
                                                   const EndpointRecord& record, Pending& pending) {
  const std::string key = internal::FoldName(record.name);
  auto it = endpoints_.find(key);
  if (action == WriteBatch::Action::kDelete) {
    if (it == endpoints_.end()) return internal::EndpointNotFound(record.name);
    if (record.revision != 0 && record.revision != it->second.revision) {
      return internal::StaleEndpoint(record.name, record.revision, it->second.revision);
    }
    for (auto deployment : DeploymentsOfLocked(key)) EraseDeploymentLocked(deployment, pending);
    const std::string stored_name = it->second.name;
    pending.undo.push_back(Undo{RecordKind::kEndpoint, key, {}, std::move(it->second), {}});
    endpoints_.erase(it);
    pending.changes.push_back(
        Change{++pending.revision, RecordKind::kEndpoint, stored_name, std::string(), true});
    return absl::OkStatus();
  }

  ASSIGN_OR_RETURN(EndpointRecord normalized, Normalized(record));
  const bool exists = it != endpoints_.end();
  // A Put carrying a revision was read from the store: it is an update.
  if (action == WriteBatch::Action::kPut) {
    action =
        exists || record.revision != 0 ? WriteBatch::Action::kUpdate : WriteBatch::Action::kCreate;
  }
  if (action == WriteBatch::Action::kCreate) {
    if (exists) return internal::EndpointExists(record.name);
  } else {
    if (!exists) return internal::EndpointNotFound(record.name);
    if (record.revision != 0 && record.revision != it->second.revision) {
      return internal::StaleEndpoint(record.name, record.revision, it->second.revision);
    }
    normalized.name = it->second.name;  // an update keeps the stored spelling
  }
  normalized.revision = ++pending.revision;
  pending.changes.push_back(
      Change{normalized.revision, RecordKind::kEndpoint, normalized.name, std::string(), false});
  PutEndpointLocked(key, std::move(normalized), pending);
  return absl::OkStatus();
}

absl::Status MemoryStateStore::ApplyDeploymentLocked(WriteBatch::Action action,
                                                     const DeploymentRecord& record,
                                                     Pending& pending) {
  const DeploymentKey key(internal::FoldName(record.endpoint), internal::FoldName(record.name));
  auto it = deployments_.find(key);
  if (action == WriteBatch::Action::kDelete) {
    if (it == deployments_.end()) return internal::DeploymentNotFound(record.endpoint, record.name);
    if (record.revision != 0 && record.revision != it->second.revision) {
      return internal::StaleDeployment(record.endpoint, record.name, record.revision,
                                       it->second.revision);
    }
    EraseDeploymentLocked(it, pending);
    return absl::OkStatus();
  }

  ASSIGN_OR_RETURN(DeploymentRecord normalized, Normalized(record));
  auto endpoint = endpoints_.find(key.first);
  if (endpoint == endpoints_.end()) return internal::EndpointNotFound(record.endpoint);
  const bool exists = it != deployments_.end();
  if (action == WriteBatch::Action::kPut) {
    action =
        exists || record.revision != 0 ? WriteBatch::Action::kUpdate : WriteBatch::Action::kCreate;
  }
  if (action == WriteBatch::Action::kCreate) {
    if (exists) return internal::DeploymentExists(record.endpoint, record.name);
    normalized.endpoint = endpoint->second.name;
  } else {
    if (!exists) return internal::DeploymentNotFound(record.endpoint, record.name);
    if (record.revision != 0 && record.revision != it->second.revision) {
      return internal::StaleDeployment(record.endpoint, record.name, record.revision,
                                       it->second.revision);
    }
    normalized.endpoint = it->second.endpoint;
    normalized.name = it->second.name;
  }
  normalized.revision = ++pending.revision;
  pending.changes.push_back(Change{normalized.revision, RecordKind::kDeployment,
                                   normalized.endpoint, normalized.name, false});
  PutDeploymentLocked(key, std::move(normalized), pending);
  return absl::OkStatus();
}

void MemoryStateStore::PutEndpointLocked(const std::string& key, EndpointRecord record,
                                         Pending& pending) {
  auto [it, inserted] = endpoints_.try_emplace(key);
  Undo undo{RecordKind::kEndpoint, key, {}, std::nullopt, std::nullopt};
  if (!inserted) undo.endpoint = std::move(it->second);
  pending.undo.push_back(std::move(undo));
  it->second = std::move(record);
}

void MemoryStateStore::PutDeploymentLocked(const DeploymentKey& key, DeploymentRecord record,
                                           Pending& pending) {
  auto [it, inserted] = deployments_.try_emplace(key);
  Undo undo{RecordKind::kDeployment, std::string(), key, std::nullopt, std::nullopt};
  if (!inserted) undo.deployment = std::move(it->second);
  pending.undo.push_back(std::move(undo));
  it->second = std::move(record);
}

void MemoryStateStore::EraseDeploymentLocked(std::map<DeploymentKey, DeploymentRecord>::iterator it,
                                             Pending& pending) {
  pending.changes.push_back(Change{++pending.revision, RecordKind::kDeployment, it->second.endpoint,
                                   it->second.name, true});
  pending.undo.push_back(
      Undo{RecordKind::kDeployment, std::string(), it->first, std::nullopt, std::move(it->second)});
  deployments_.erase(it);
}

void MemoryStateStore::RollBackLocked(Pending& pending) {
  for (auto undo = pending.undo.rbegin(); undo != pending.undo.rend(); ++undo) {
    if (undo->kind == RecordKind::kEndpoint) {
      if (undo->endpoint) {
        endpoints_.insert_or_assign(undo->endpoint_key, std::move(*undo->endpoint));
      } else {
        endpoints_.erase(undo->endpoint_key);
      }
    } else if (undo->deployment) {
      deployments_.insert_or_assign(undo->deployment_key, std::move(*undo->deployment));
    } else {
      deployments_.erase(undo->deployment_key);
    }
  }
}

// ---- Change feed ----

absl::StatusOr<int64_t> MemoryStateStore::CurrentRevision() {
  absl::MutexLock lock(&mu_);
  return revision_;
}

absl::StatusOr<ChangeBatch> MemoryStateStore::ChangesSince(int64_t revision, size_t limit) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(internal::CheckChangesSince(revision, limit, pruned_through_, revision_));
  ChangeBatch batch;
  batch.current_revision = revision_;
  // The log is dense: changes_[i] has revision pruned_through_ + 1 + i.
  auto first = changes_.begin() + (revision - pruned_through_);
  auto last = first + std::min<int64_t>(static_cast<int64_t>(limit), changes_.end() - first);
  batch.changes.assign(first, last);
  return batch;
}

// ---- Models ----

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

// ---- Resources ----

absl::StatusOr<ResourceRecord> MemoryStateStore::GetResource(const std::string& kind,
                                                             const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = resources_.find(ResourceKey(kind, key));
  if (it == resources_.end()) return internal::ResourceNotFound(kind, key);
  return it->second;
}

absl::StatusOr<std::vector<ResourceRecord>> MemoryStateStore::ListResources(
    const std::string& kind, const std::string& key_prefix) {
  absl::MutexLock lock(&mu_);
  std::vector<ResourceRecord> out;
  for (auto it = resources_.lower_bound(ResourceKey(kind, key_prefix));
       it != resources_.end() && it->first.first == kind &&
       it->first.second.starts_with(key_prefix);
       ++it) {
    out.push_back(it->second);
  }
  return out;
}

absl::StatusOr<std::vector<ResourceRecord>> MemoryStateStore::CommitResources(
    const std::vector<ResourceWrite>& writes) {
  absl::MutexLock lock(&mu_);
  // Writes are staged (nullopt: deleted) and applied once all succeeded, so a failure leaves
  // resources_ as it was; each write sees the staged ones before it.
  std::map<ResourceKey, std::optional<ResourceRecord>> staged;
  std::vector<ResourceRecord> out;
  out.reserve(writes.size());
  for (const ResourceWrite& write : writes) {
    const ResourceRecord& record = write.record;
    ResourceKey key(record.kind, record.key);
    const ResourceRecord* stored = nullptr;
    if (auto it = staged.find(key); it != staged.end()) {
      if (it->second) stored = &*it->second;
    } else if (auto it = resources_.find(key); it != resources_.end()) {
      stored = &it->second;
    }

    if (write.action == ResourceWrite::Action::kDelete) {
      RETURN_IF_ERROR(
          internal::CheckResourceWrite(write, stored != nullptr, stored ? stored->revision : 0));
      out.push_back(*stored);
      staged.insert_or_assign(std::move(key), std::nullopt);
      continue;
    }
    // Checked before NOT_FOUND & co, as the SQLite store binds before it looks.
    ASSIGN_OR_RETURN(internal::StoredJson doc,
                     internal::EncodeStoredJson(
                         record.doc, internal::ResourceRow(record.kind, record.key), "doc"));
    RETURN_IF_ERROR(
        internal::CheckResourceWrite(write, stored != nullptr, stored ? stored->revision : 0));
    ResourceRecord written = record;
    written.doc = std::move(doc.value);
    written.revision = stored != nullptr ? stored->revision + 1 : 1;
    if (stored != nullptr) written.created_at_ms = stored->created_at_ms;
    out.push_back(written);
    staged.insert_or_assign(std::move(key), std::move(written));
  }
  for (auto& [key, record] : staged) {
    if (record) {
      resources_.insert_or_assign(key, *std::move(record));
    } else {
      resources_.erase(key);
    }
  }
  return out;
}

absl::StatusOr<int64_t> MemoryStateStore::DeleteResources(const std::string& kind,
                                                          const std::string& key_prefix) {
  RETURN_IF_ERROR(internal::CheckDeletePrefix(kind, key_prefix));
  absl::MutexLock lock(&mu_);
  auto first = resources_.lower_bound(ResourceKey(kind, key_prefix));
  auto last = first;
  int64_t count = 0;
  while (last != resources_.end() && last->first.first == kind &&
         last->first.second.starts_with(key_prefix)) {
    ++last;
    ++count;
  }
  resources_.erase(first, last);
  return count;
}

// ---- Settings ----

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
