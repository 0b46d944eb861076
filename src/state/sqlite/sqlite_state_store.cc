#include "state/sqlite/sqlite_state_store.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "state/record_codec.h"
#include "state/sqlite/sqlite_schema.h"

namespace berth::state {
namespace {

using sqlite::Statement;
using sqlite::Transaction;

// Column lists and parameter numbers are shared by the SELECTs, the INSERTs and the UPDATEs
// below, so the readers and binders stay in step with them.
constexpr char kEndpointColumns[] =
    "name, spec, state, reason, primary_key_sealed, secondary_key_sealed, token_secret_sealed, "
    "created_at_ms, updated_at_ms, revision";
constexpr char kDeploymentColumns[] =
    "endpoint, name, spec, state, reason, warnings, generation, created_at_ms, updated_at_ms, "
    "revision";
constexpr char kModelColumns[] =
    "name, version, spec, artifact_digest, artifact_base_name, artifact_is_file, created_at_ms";
constexpr char kResourceColumns[] = "kind, key, doc, created_at_ms, updated_at_ms, revision";

absl::StatusOr<EndpointRecord> ReadEndpoint(const Statement& row) {
  EndpointRecord record;
  record.name = row.ColumnText(0);
  const std::string label = internal::EndpointRow(record.name);
  ASSIGN_OR_RETURN(record.spec, internal::DecodeJson(row.ColumnText(1), label, "spec"));
  ASSIGN_OR_RETURN(record.state, internal::ParseStateText(row.ColumnText(2), label));
  record.reason = row.ColumnText(3);
  record.primary_key_sealed = row.ColumnText(4);
  record.secondary_key_sealed = row.ColumnText(5);
  record.token_secret_sealed = row.ColumnText(6);
  record.created_at_ms = row.ColumnInt64(7);
  record.updated_at_ms = row.ColumnInt64(8);
  record.revision = row.ColumnInt64(9);
  return record;
}

// Binds ?1..?9 in kEndpointColumns order; the revision (?10) is the store's to bind.
absl::Status BindEndpoint(Statement& statement, const EndpointRecord& record) {
  ASSIGN_OR_RETURN(std::string spec,
                   internal::EncodeJson(record.spec, internal::EndpointRow(record.name), "spec"));
  statement.Bind(1, record.name)
      .Bind(2, spec)
      .Bind(3, internal::StateText(record.state))
      .Bind(4, record.reason)
      .Bind(5, record.primary_key_sealed)
      .Bind(6, record.secondary_key_sealed)
      .Bind(7, record.token_secret_sealed)
      .Bind(8, record.created_at_ms)
      .Bind(9, record.updated_at_ms);
  return absl::OkStatus();
}

absl::StatusOr<DeploymentRecord> ReadDeployment(const Statement& row) {
  DeploymentRecord record;
  record.endpoint = row.ColumnText(0);
  record.name = row.ColumnText(1);
  const std::string label = internal::DeploymentRow(record.endpoint, record.name);
  ASSIGN_OR_RETURN(record.spec, internal::DecodeJson(row.ColumnText(2), label, "spec"));
  ASSIGN_OR_RETURN(record.state, internal::ParseStateText(row.ColumnText(3), label));
  record.reason = row.ColumnText(4);
  ASSIGN_OR_RETURN(record.warnings, internal::DecodeWarnings(row.ColumnText(5), label));
  record.generation = row.ColumnInt64(6);
  record.created_at_ms = row.ColumnInt64(7);
  record.updated_at_ms = row.ColumnInt64(8);
  record.revision = row.ColumnInt64(9);
  return record;
}

// Binds ?1..?9 in kDeploymentColumns order; the revision (?10) is the store's to bind.
absl::Status BindDeployment(Statement& statement, const DeploymentRecord& record) {
  const std::string label = internal::DeploymentRow(record.endpoint, record.name);
  ASSIGN_OR_RETURN(std::string spec, internal::EncodeJson(record.spec, label, "spec"));
  ASSIGN_OR_RETURN(std::string warnings, internal::EncodeWarnings(record.warnings, label));
  statement.Bind(1, record.endpoint)
      .Bind(2, record.name)
      .Bind(3, spec)
      .Bind(4, internal::StateText(record.state))
      .Bind(5, record.reason)
      .Bind(6, warnings)
      .Bind(7, record.generation)
      .Bind(8, record.created_at_ms)
      .Bind(9, record.updated_at_ms);
  return absl::OkStatus();
}

absl::StatusOr<ModelRecord> ReadModel(const Statement& row) {
  ModelRecord record;
  record.name = row.ColumnText(0);
  record.version = row.ColumnText(1);
  const std::string label = internal::ModelRow(record.name, record.version);
  ASSIGN_OR_RETURN(record.spec, internal::DecodeJson(row.ColumnText(2), label, "spec"));
  record.artifact.digest = row.ColumnText(3);
  record.artifact.base_name = row.ColumnText(4);
  record.artifact.is_file = row.ColumnInt64(5) != 0;
  record.created_at_ms = row.ColumnInt64(6);
  return record;
}

// Binds ?1..?7 in kModelColumns order.
absl::Status BindModel(Statement& statement, const ModelRecord& record) {
  ASSIGN_OR_RETURN(
      std::string spec,
      internal::EncodeJson(record.spec, internal::ModelRow(record.name, record.version), "spec"));
  statement.Bind(1, record.name)
      .Bind(2, record.version)
      .Bind(3, spec)
      .Bind(4, record.artifact.digest)
      .Bind(5, record.artifact.base_name)
      .Bind(6, int64_t{record.artifact.is_file ? 1 : 0})
      .Bind(7, record.created_at_ms);
  return absl::OkStatus();
}

absl::StatusOr<ResourceRecord> ReadResource(const Statement& row) {
  ResourceRecord record;
  record.kind = row.ColumnText(0);
  record.key = row.ColumnText(1);
  ASSIGN_OR_RETURN(record.doc,
                   internal::DecodeJson(row.ColumnText(2),
                                        internal::ResourceRow(record.kind, record.key), "doc"));
  record.created_at_ms = row.ColumnInt64(3);
  record.updated_at_ms = row.ColumnInt64(4);
  record.revision = row.ColumnInt64(5);
  return record;
}

// The records of one kind whose key starts with a prefix, as a key range the primary key index
// serves (LIKE and GLOB would not: LIKE folds ASCII case, and both give '%', '_', '*' meanings).
// `end` is internal::PrefixSuccessor(prefix); parameters ?1 kind, ?2 prefix, ?3 end.
std::string KeyPrefixCondition(const std::optional<std::string>& end) {
  return end.has_value() ? "kind = ?1 AND key >= ?2 AND key < ?3" : "kind = ?1 AND key >= ?2";
}

void BindKeyPrefix(Statement& statement, const std::string& kind, const std::string& prefix,
                   const std::optional<std::string>& end) {
  statement.Bind(1, kind).Bind(2, prefix);
  if (end.has_value()) statement.Bind(3, *end);
}

const char* KindText(RecordKind kind) {
  return kind == RecordKind::kEndpoint ? "endpoint" : "deployment";
}

absl::StatusOr<RecordKind> ParseKindText(const std::string& text, int64_t revision) {
  if (text == "endpoint") return RecordKind::kEndpoint;
  if (text == "deployment") return RecordKind::kDeployment;
  return absl::DataLossError(
      absl::StrCat("change ", revision, ": stored kind '", text, "' is not a record kind"));
}

// What a Put amounts to: an update when the record exists or was read from the store (it
// carries a revision), a create otherwise.
WriteBatch::Action Resolve(WriteBatch::Action action, bool exists, int64_t revision) {
  if (action != WriteBatch::Action::kPut) return action;
  return exists || revision != 0 ? WriteBatch::Action::kUpdate : WriteBatch::Action::kCreate;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStateStore>> SqliteStateStore::Open(
    const std::filesystem::path& db_file, int64_t change_retention) {
  std::error_code ec;
  const std::filesystem::path parent = db_file.parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("state database folder ", parent.string(), " does not exist"));
  }
  ASSIGN_OR_RETURN(sqlite::Database db, sqlite::Database::Open(db_file.string()));
  absl::Status status = sqlite::ConfigureAndMigrate(db);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("opening state database ", db_file.string(),
                                                    ": ", status.message()));
  }
  return std::unique_ptr<SqliteStateStore>(
      new SqliteStateStore(std::move(db), std::max<int64_t>(change_retention, 1)));
}

// ---- Endpoints and deployments: reads ----
// Names compare with the columns' NOCASE collation; lists sort byte-wise (COLLATE BINARY), as
// before names were case-insensitive.

absl::StatusOr<EndpointRecord> SqliteStateStore::GetEndpoint(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select, db_.Prepare(absl::StrCat("SELECT ", kEndpointColumns,
                                                              " FROM endpoints WHERE name = ?1")));
  ASSIGN_OR_RETURN(bool found, select.Bind(1, name).Step());
  if (!found) return internal::EndpointNotFound(name);
  return ReadEndpoint(select);
}

absl::StatusOr<std::vector<EndpointRecord>> SqliteStateStore::ListEndpoints() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare(absl::StrCat("SELECT ", kEndpointColumns,
                                            " FROM endpoints ORDER BY name COLLATE BINARY")));
  std::vector<EndpointRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    ASSIGN_OR_RETURN(EndpointRecord record, ReadEndpoint(select));
    out.push_back(std::move(record));
  }
  return out;
}

absl::StatusOr<DeploymentRecord> SqliteStateStore::GetDeployment(const std::string& endpoint,
                                                                 const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select, db_.Prepare(absl::StrCat(
                                         "SELECT ", kDeploymentColumns,
                                         " FROM deployments WHERE endpoint = ?1 AND name = ?2")));
  ASSIGN_OR_RETURN(bool found, select.Bind(1, endpoint).Bind(2, name).Step());
  if (!found) return internal::DeploymentNotFound(endpoint, name);
  return ReadDeployment(select);
}

absl::StatusOr<std::vector<DeploymentRecord>> SqliteStateStore::ListDeployments(
    const std::string& endpoint) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare(absl::StrCat(
                       "SELECT ", kDeploymentColumns,
                       " FROM deployments WHERE endpoint = ?1 ORDER BY name COLLATE BINARY")));
  select.Bind(1, endpoint);
  std::vector<DeploymentRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    ASSIGN_OR_RETURN(DeploymentRecord record, ReadDeployment(select));
    out.push_back(std::move(record));
  }
  return out;
}

// ---- Endpoints and deployments: writes ----

absl::Status SqliteStateStore::CreateEndpoint(const EndpointRecord& record) {
  return Commit(WriteBatch().CreateEndpoint(record)).status();
}

absl::Status SqliteStateStore::UpdateEndpoint(const EndpointRecord& record) {
  return Commit(WriteBatch().UpdateEndpoint(record)).status();
}

absl::Status SqliteStateStore::DeleteEndpoint(const std::string& name) {
  return Commit(WriteBatch().DeleteEndpoint(name)).status();
}

absl::Status SqliteStateStore::CreateDeployment(const DeploymentRecord& record) {
  return Commit(WriteBatch().CreateDeployment(record)).status();
}

absl::Status SqliteStateStore::UpdateDeployment(const DeploymentRecord& record) {
  return Commit(WriteBatch().UpdateDeployment(record)).status();
}

absl::Status SqliteStateStore::DeleteDeployment(const std::string& endpoint,
                                                const std::string& name) {
  return Commit(WriteBatch().DeleteDeployment(endpoint, name)).status();
}

absl::StatusOr<int64_t> SqliteStateStore::Commit(const WriteBatch& batch) {
  absl::MutexLock lock(&mu_);
  // One IMMEDIATE transaction: the write lock is held from the revision read to the commit, so
  // writers in other processes see each other's revisions, and a failed op rolls all back.
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(StoredRevision stored, ReadRevisionLocked());
  int64_t revision = stored.current;
  for (const WriteBatch::Op& op : batch.ops()) {
    RETURN_IF_ERROR(op.kind == RecordKind::kEndpoint
                        ? ApplyEndpointLocked(op.action, op.endpoint, revision)
                        : ApplyDeploymentLocked(op.action, op.deployment, revision));
  }
  if (revision != stored.current) {
    int64_t pruned_through = stored.pruned_through;
    if (revision - change_retention_ > pruned_through) {
      pruned_through = revision - change_retention_;
      ASSIGN_OR_RETURN(Statement prune, db_.Prepare("DELETE FROM changes WHERE revision <= ?1"));
      RETURN_IF_ERROR(prune.Bind(1, pruned_through).Run());
    }
    ASSIGN_OR_RETURN(Statement update,
                     db_.Prepare("UPDATE store_revision SET current_revision = ?1, "
                                 "pruned_through = ?2 WHERE id = 1"));
    RETURN_IF_ERROR(update.Bind(1, revision).Bind(2, pruned_through).Run());
  }
  RETURN_IF_ERROR(txn.Commit());
  return revision;
}

absl::StatusOr<SqliteStateStore::StoredRevision> SqliteStateStore::ReadRevisionLocked() {
  ASSIGN_OR_RETURN(
      Statement select,
      db_.Prepare("SELECT current_revision, pruned_through FROM store_revision WHERE id = 1"));
  ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return absl::DataLossError("state database: the store_revision row is missing");
  return StoredRevision{select.ColumnInt64(0), select.ColumnInt64(1)};
}

absl::Status SqliteStateStore::AppendChangeLocked(const Change& change) {
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare("INSERT INTO changes (revision, kind, endpoint, deployment, "
                               "deleted) VALUES (?1, ?2, ?3, ?4, ?5)"));
  return insert.Bind(1, change.revision)
      .Bind(2, KindText(change.kind))
      .Bind(3, change.endpoint)
      .Bind(4, change.deployment)
      .Bind(5, int64_t{change.deleted ? 1 : 0})
      .Run();
}

absl::Status SqliteStateStore::ApplyEndpointLocked(WriteBatch::Action action,
                                                   const EndpointRecord& record,
                                                   int64_t& revision) {
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare("SELECT name, revision FROM endpoints WHERE name = ?1"));
  ASSIGN_OR_RETURN(bool exists, select.Bind(1, record.name).Step());
  const std::string stored_name = exists ? select.ColumnText(0) : std::string();
  const int64_t stored_revision = exists ? select.ColumnInt64(1) : 0;

  if (action == WriteBatch::Action::kDelete) {
    if (!exists) return internal::EndpointNotFound(record.name);
    if (record.revision != 0 && record.revision != stored_revision) {
      return internal::StaleEndpoint(record.name, record.revision, stored_revision);
    }
    // Each deployment goes with its own change, in the order ListDeployments gives.
    ASSIGN_OR_RETURN(Statement deployments,
                     db_.Prepare("SELECT endpoint, name FROM deployments WHERE endpoint = ?1 "
                                 "ORDER BY name COLLATE BINARY"));
    deployments.Bind(1, stored_name);
    std::vector<Change> removed;
    while (true) {
      ASSIGN_OR_RETURN(bool has_row, deployments.Step());
      if (!has_row) break;
      removed.push_back(Change{++revision, RecordKind::kDeployment, deployments.ColumnText(0),
                               deployments.ColumnText(1), true});
    }
    // Deleted explicitly as well as by ON DELETE CASCADE, so the guarantee does not hang on the
    // per-connection foreign_keys pragma.
    ASSIGN_OR_RETURN(Statement delete_deployments,
                     db_.Prepare("DELETE FROM deployments WHERE endpoint = ?1"));
    RETURN_IF_ERROR(delete_deployments.Bind(1, stored_name).Run());
    ASSIGN_OR_RETURN(Statement delete_endpoint,
                     db_.Prepare("DELETE FROM endpoints WHERE name = ?1"));
    RETURN_IF_ERROR(delete_endpoint.Bind(1, stored_name).Run());
    removed.push_back(Change{++revision, RecordKind::kEndpoint, stored_name, std::string(), true});
    for (const Change& change : removed) RETURN_IF_ERROR(AppendChangeLocked(change));
    return absl::OkStatus();
  }

  action = Resolve(action, exists, record.revision);
  ASSIGN_OR_RETURN(
      Statement write,
      db_.Prepare(action == WriteBatch::Action::kCreate
                      ? absl::StrCat("INSERT INTO endpoints (", kEndpointColumns,
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
                      : std::string("UPDATE endpoints SET spec = ?2, state = ?3, reason = ?4, "
                                    "primary_key_sealed = ?5, secondary_key_sealed = ?6, "
                                    "token_secret_sealed = ?7, created_at_ms = ?8, "
                                    "updated_at_ms = ?9, revision = ?10 WHERE name = ?1")));
  RETURN_IF_ERROR(BindEndpoint(write, record));  // INVALID_ARGUMENT before NOT_FOUND & co
  if (action == WriteBatch::Action::kCreate) {
    if (exists) return internal::EndpointExists(record.name);
  } else {
    if (!exists) return internal::EndpointNotFound(record.name);
    if (record.revision != 0 && record.revision != stored_revision) {
      return internal::StaleEndpoint(record.name, record.revision, stored_revision);
    }
  }
  ++revision;
  RETURN_IF_ERROR(write.Bind(10, revision).Run());
  // An update keeps the stored spelling of the name.
  return AppendChangeLocked(Change{revision, RecordKind::kEndpoint,
                                   exists ? stored_name : record.name, std::string(), false});
}

absl::Status SqliteStateStore::ApplyDeploymentLocked(WriteBatch::Action action,
                                                     const DeploymentRecord& record,
                                                     int64_t& revision) {
  ASSIGN_OR_RETURN(Statement select, db_.Prepare("SELECT endpoint, name, revision FROM deployments "
                                                 "WHERE endpoint = ?1 AND name = ?2"));
  ASSIGN_OR_RETURN(bool exists, select.Bind(1, record.endpoint).Bind(2, record.name).Step());
  const std::string stored_endpoint = exists ? select.ColumnText(0) : std::string();
  const std::string stored_name = exists ? select.ColumnText(1) : std::string();
  const int64_t stored_revision = exists ? select.ColumnInt64(2) : 0;

  if (action == WriteBatch::Action::kDelete) {
    if (!exists) return internal::DeploymentNotFound(record.endpoint, record.name);
    if (record.revision != 0 && record.revision != stored_revision) {
      return internal::StaleDeployment(record.endpoint, record.name, record.revision,
                                       stored_revision);
    }
    ASSIGN_OR_RETURN(Statement remove,
                     db_.Prepare("DELETE FROM deployments WHERE endpoint = ?1 AND name = ?2"));
    RETURN_IF_ERROR(remove.Bind(1, stored_endpoint).Bind(2, stored_name).Run());
    return AppendChangeLocked(
        Change{++revision, RecordKind::kDeployment, stored_endpoint, stored_name, true});
  }

  action = Resolve(action, exists, record.revision);
  ASSIGN_OR_RETURN(
      Statement write,
      db_.Prepare(action == WriteBatch::Action::kCreate
                      ? absl::StrCat("INSERT INTO deployments (", kDeploymentColumns,
                                     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
                      : std::string("UPDATE deployments SET spec = ?3, state = ?4, reason = ?5, "
                                    "warnings = ?6, generation = ?7, created_at_ms = ?8, "
                                    "updated_at_ms = ?9, revision = ?10 "
                                    "WHERE endpoint = ?1 AND name = ?2")));
  RETURN_IF_ERROR(BindDeployment(write, record));  // INVALID_ARGUMENT before NOT_FOUND & co
  ASSIGN_OR_RETURN(Statement endpoint, db_.Prepare("SELECT name FROM endpoints WHERE name = ?1"));
  ASSIGN_OR_RETURN(bool endpoint_exists, endpoint.Bind(1, record.endpoint).Step());
  if (!endpoint_exists) return internal::EndpointNotFound(record.endpoint);
  std::string endpoint_name = endpoint.ColumnText(0);
  std::string name = record.name;
  if (action == WriteBatch::Action::kCreate) {
    if (exists) return internal::DeploymentExists(record.endpoint, record.name);
  } else {
    if (!exists) return internal::DeploymentNotFound(record.endpoint, record.name);
    if (record.revision != 0 && record.revision != stored_revision) {
      return internal::StaleDeployment(record.endpoint, record.name, record.revision,
                                       stored_revision);
    }
    endpoint_name = stored_endpoint;  // an update keeps the stored spellings
    name = stored_name;
  }
  ++revision;
  // A new deployment names its endpoint as the endpoint spells it.
  RETURN_IF_ERROR(write.Bind(1, endpoint_name).Bind(10, revision).Run());
  return AppendChangeLocked(Change{revision, RecordKind::kDeployment, endpoint_name, name, false});
}

// ---- Change feed ----

absl::StatusOr<int64_t> SqliteStateStore::CurrentRevision() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(StoredRevision stored, ReadRevisionLocked());
  return stored.current;
}

absl::StatusOr<ChangeBatch> SqliteStateStore::ChangesSince(int64_t revision, size_t limit) {
  absl::MutexLock lock(&mu_);
  // One snapshot for the revision row and the log, against writers in other processes.
  ASSIGN_OR_RETURN(Transaction txn, Transaction::BeginRead(db_));
  ASSIGN_OR_RETURN(StoredRevision stored, ReadRevisionLocked());
  RETURN_IF_ERROR(
      internal::CheckChangesSince(revision, limit, stored.pruned_through, stored.current));
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare("SELECT revision, kind, endpoint, deployment, deleted FROM changes "
                               "WHERE revision > ?1 ORDER BY revision LIMIT ?2"));
  const int64_t max_rows = static_cast<int64_t>(
      std::min<size_t>(limit, static_cast<size_t>(std::numeric_limits<int64_t>::max())));
  select.Bind(1, revision).Bind(2, max_rows);
  ChangeBatch batch;
  batch.current_revision = stored.current;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    Change change;
    change.revision = select.ColumnInt64(0);
    ASSIGN_OR_RETURN(change.kind, ParseKindText(select.ColumnText(1), change.revision));
    change.endpoint = select.ColumnText(2);
    change.deployment = select.ColumnText(3);
    change.deleted = select.ColumnInt64(4) != 0;
    batch.changes.push_back(std::move(change));
  }
  RETURN_IF_ERROR(txn.Commit());
  return batch;
}

// ---- Models ----

absl::StatusOr<ModelRecord> SqliteStateStore::GetModel(const std::string& name,
                                                       const std::string& version) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare(absl::StrCat("SELECT ", kModelColumns,
                                            " FROM models WHERE name = ?1 AND version = ?2")));
  ASSIGN_OR_RETURN(bool found, select.Bind(1, name).Bind(2, version).Step());
  if (!found) return internal::ModelNotFound(name, version);
  return ReadModel(select);
}

absl::StatusOr<std::vector<ModelRecord>> SqliteStateStore::ListModels(const std::string& name) {
  std::vector<ModelRecord> out;
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(Statement select,
                     db_.Prepare(absl::StrCat("SELECT ", kModelColumns,
                                              " FROM models WHERE ?1 = '' OR name = ?1")));
    select.Bind(1, name);
    while (true) {
      ASSIGN_OR_RETURN(bool has_row, select.Step());
      if (!has_row) break;
      ASSIGN_OR_RETURN(ModelRecord record, ReadModel(select));
      out.push_back(std::move(record));
    }
  }
  // The version order (numeric first) is not SQL's, so both stores sort with one comparator.
  std::sort(out.begin(), out.end(), internal::ModelOrderLess);
  return out;
}

absl::Status SqliteStateStore::CreateModel(const ModelRecord& record) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare(absl::StrCat("INSERT INTO models (", kModelColumns,
                                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                                            "ON CONFLICT(name, version) DO NOTHING")));
  RETURN_IF_ERROR(BindModel(insert, record));
  RETURN_IF_ERROR(insert.Run());
  if (db_.Changes() == 0) return internal::ModelExists(record.name, record.version);
  return absl::OkStatus();
}

absl::Status SqliteStateStore::DeleteModel(const std::string& name, const std::string& version) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement remove,
                   db_.Prepare("DELETE FROM models WHERE name = ?1 AND version = ?2"));
  RETURN_IF_ERROR(remove.Bind(1, name).Bind(2, version).Run());
  if (db_.Changes() == 0) return internal::ModelNotFound(name, version);
  return absl::OkStatus();
}

// ---- Resources ----

absl::StatusOr<ResourceRecord> SqliteStateStore::GetResource(const std::string& kind,
                                                             const std::string& key) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare(absl::StrCat("SELECT ", kResourceColumns,
                                            " FROM resources WHERE kind = ?1 AND key = ?2")));
  ASSIGN_OR_RETURN(bool found, select.Bind(1, kind).Bind(2, key).Step());
  if (!found) return internal::ResourceNotFound(kind, key);
  return ReadResource(select);
}

absl::StatusOr<std::vector<ResourceRecord>> SqliteStateStore::ListResources(
    const std::string& kind, const std::string& key_prefix) {
  const std::optional<std::string> end = internal::PrefixSuccessor(key_prefix);
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare(absl::StrCat("SELECT ", kResourceColumns, " FROM resources WHERE ",
                                            KeyPrefixCondition(end), " ORDER BY key")));
  BindKeyPrefix(select, kind, key_prefix, end);
  std::vector<ResourceRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    ASSIGN_OR_RETURN(ResourceRecord record, ReadResource(select));
    out.push_back(std::move(record));
  }
  return out;
}

absl::StatusOr<std::vector<ResourceRecord>> SqliteStateStore::CommitResources(
    const std::vector<ResourceWrite>& writes) {
  if (writes.empty()) return std::vector<ResourceRecord>();
  absl::MutexLock lock(&mu_);
  // IMMEDIATE: the write lock is held from each revision read to the commit; an error return
  // rolls every write back.
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> written, ApplyResourcesLocked(writes));
  RETURN_IF_ERROR(txn.Commit());
  return written;
}

absl::StatusOr<std::vector<ResourceRecord>> SqliteStateStore::ApplyResourcesLocked(
    const std::vector<ResourceWrite>& writes) {
  // Each statement is prepared once per batch and rewound for every write (progress records
  // come in batches of many); all are finalized before the caller commits.
  ASSIGN_OR_RETURN(Statement select,
                   db_.Prepare(absl::StrCat("SELECT ", kResourceColumns,
                                            " FROM resources WHERE kind = ?1 AND key = ?2")));
  // created_at_ms is not in the update: a replace keeps the stored one.
  ASSIGN_OR_RETURN(Statement upsert,
                   db_.Prepare(absl::StrCat("INSERT INTO resources (", kResourceColumns,
                                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                                            "ON CONFLICT(kind, key) DO UPDATE SET doc = ?3, "
                                            "updated_at_ms = ?5, revision = ?6")));
  std::optional<Statement> remove;  // prepared at the first delete
  std::vector<ResourceRecord> out;
  out.reserve(writes.size());
  for (const ResourceWrite& write : writes) {
    const ResourceRecord& record = write.record;
    const bool is_delete = write.action == ResourceWrite::Action::kDelete;
    // INVALID_ARGUMENT before NOT_FOUND & co, as for endpoints.
    internal::StoredJson doc;
    if (!is_delete) {
      ASSIGN_OR_RETURN(doc, internal::EncodeStoredJson(
                                record.doc, internal::ResourceRow(record.kind, record.key), "doc"));
    }
    ASSIGN_OR_RETURN(bool exists, select.Reset().Bind(1, record.kind).Bind(2, record.key).Step());
    const int64_t stored_revision = exists ? select.ColumnInt64(5) : 0;
    RETURN_IF_ERROR(internal::CheckResourceWrite(write, exists, stored_revision));

    if (is_delete) {
      // The doc is decoded only here: a delete returns the record as it was.
      ASSIGN_OR_RETURN(ResourceRecord deleted, ReadResource(select));
      select.Reset();
      if (!remove.has_value()) {
        ASSIGN_OR_RETURN(remove, db_.Prepare("DELETE FROM resources WHERE kind = ?1 AND key = ?2"));
      }
      RETURN_IF_ERROR(remove->Reset().Bind(1, record.kind).Bind(2, record.key).Run());
      out.push_back(std::move(deleted));
      continue;
    }

    ResourceRecord written = record;
    written.doc = std::move(doc.value);
    written.revision = stored_revision + 1;
    if (exists) written.created_at_ms = select.ColumnInt64(3);
    select.Reset();  // done reading before the table changes
    RETURN_IF_ERROR(upsert.Reset()
                        .Bind(1, written.kind)
                        .Bind(2, written.key)
                        .Bind(3, doc.text)
                        .Bind(4, written.created_at_ms)
                        .Bind(5, written.updated_at_ms)
                        .Bind(6, written.revision)
                        .Run());
    out.push_back(std::move(written));
  }
  return out;
}

absl::StatusOr<int64_t> SqliteStateStore::DeleteResources(const std::string& kind,
                                                          const std::string& key_prefix) {
  RETURN_IF_ERROR(internal::CheckDeletePrefix(kind, key_prefix));
  const std::optional<std::string> end = internal::PrefixSuccessor(key_prefix);
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement remove, db_.Prepare(absl::StrCat("DELETE FROM resources WHERE ",
                                                              KeyPrefixCondition(end))));
  BindKeyPrefix(remove, kind, key_prefix, end);
  RETURN_IF_ERROR(remove.Run());  // one statement: all or nothing
  return db_.Changes();
}

// ---- Settings ----

absl::StatusOr<std::optional<std::string>> SqliteStateStore::GetSetting(const std::string& key) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement select, db_.Prepare("SELECT value FROM settings WHERE key = ?1"));
  ASSIGN_OR_RETURN(bool found, select.Bind(1, key).Step());
  if (!found) return std::optional<std::string>();
  return std::optional<std::string>(select.ColumnText(0));
}

absl::Status SqliteStateStore::PutSetting(const std::string& key, const std::string& value) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement upsert,
                   db_.Prepare("INSERT INTO settings (key, value) VALUES (?1, ?2) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  return upsert.Bind(1, key).Bind(2, value).Run();
}

}  // namespace berth::state
