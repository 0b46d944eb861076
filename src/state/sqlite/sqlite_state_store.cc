#include "state/sqlite/sqlite_state_store.h"

#include <algorithm>
#include <system_error>
#include <utility>

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
    "created_at_ms, updated_at_ms";
constexpr char kDeploymentColumns[] =
    "endpoint, name, spec, state, reason, warnings, generation, created_at_ms, updated_at_ms";
constexpr char kModelColumns[] =
    "name, version, spec, artifact_digest, artifact_base_name, artifact_is_file, created_at_ms";

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
  return record;
}

// Binds ?1..?9 in kEndpointColumns order.
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
  return record;
}

// Binds ?1..?9 in kDeploymentColumns order.
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

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStateStore>> SqliteStateStore::Open(
    const std::filesystem::path& db_file) {
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
  return std::unique_ptr<SqliteStateStore>(new SqliteStateStore(std::move(db)));
}

absl::StatusOr<bool> SqliteStateStore::EndpointExistsLocked(const std::string& name) {
  ASSIGN_OR_RETURN(Statement select, db_.Prepare("SELECT 1 FROM endpoints WHERE name = ?1"));
  return select.Bind(1, name).Step();
}

// ---- Endpoints ----

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
  ASSIGN_OR_RETURN(Statement select, db_.Prepare(absl::StrCat("SELECT ", kEndpointColumns,
                                                              " FROM endpoints ORDER BY name")));
  std::vector<EndpointRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool has_row, select.Step());
    if (!has_row) break;
    ASSIGN_OR_RETURN(EndpointRecord record, ReadEndpoint(select));
    out.push_back(std::move(record));
  }
  return out;
}

absl::Status SqliteStateStore::CreateEndpoint(const EndpointRecord& record) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare(absl::StrCat("INSERT INTO endpoints (", kEndpointColumns,
                                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                                            "ON CONFLICT(name) DO NOTHING")));
  RETURN_IF_ERROR(BindEndpoint(insert, record));
  RETURN_IF_ERROR(insert.Run());  // a single statement is its own transaction
  if (db_.Changes() == 0) return internal::EndpointExists(record.name);
  return absl::OkStatus();
}

absl::Status SqliteStateStore::UpdateEndpoint(const EndpointRecord& record) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_.Prepare("UPDATE endpoints SET spec = ?2, state = ?3, reason = ?4, "
                               "primary_key_sealed = ?5, secondary_key_sealed = ?6, "
                               "token_secret_sealed = ?7, created_at_ms = ?8, "
                               "updated_at_ms = ?9 WHERE name = ?1"));
  RETURN_IF_ERROR(BindEndpoint(update, record));
  RETURN_IF_ERROR(update.Run());
  if (db_.Changes() == 0) return internal::EndpointNotFound(record.name);
  return absl::OkStatus();
}

absl::Status SqliteStateStore::DeleteEndpoint(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  // Deleted explicitly as well as by ON DELETE CASCADE, so the guarantee does not hang on the
  // per-connection foreign_keys pragma.
  ASSIGN_OR_RETURN(Statement delete_deployments,
                   db_.Prepare("DELETE FROM deployments WHERE endpoint = ?1"));
  RETURN_IF_ERROR(delete_deployments.Bind(1, name).Run());
  ASSIGN_OR_RETURN(Statement delete_endpoint, db_.Prepare("DELETE FROM endpoints WHERE name = ?1"));
  RETURN_IF_ERROR(delete_endpoint.Bind(1, name).Run());
  if (db_.Changes() == 0) return internal::EndpointNotFound(name);  // rolls back
  return txn.Commit();
}

// ---- Deployments ----

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
  ASSIGN_OR_RETURN(Statement select, db_.Prepare(absl::StrCat(
                                         "SELECT ", kDeploymentColumns,
                                         " FROM deployments WHERE endpoint = ?1 ORDER BY name")));
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

absl::Status SqliteStateStore::CreateDeployment(const DeploymentRecord& record) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement insert,
                   db_.Prepare(absl::StrCat("INSERT INTO deployments (", kDeploymentColumns,
                                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                                            "ON CONFLICT(endpoint, name) DO NOTHING")));
  RETURN_IF_ERROR(BindDeployment(insert, record));
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  ASSIGN_OR_RETURN(bool endpoint_exists, EndpointExistsLocked(record.endpoint));
  if (!endpoint_exists) return internal::EndpointNotFound(record.endpoint);
  RETURN_IF_ERROR(insert.Run());
  if (db_.Changes() == 0) return internal::DeploymentExists(record.endpoint, record.name);
  return txn.Commit();
}

absl::Status SqliteStateStore::UpdateDeployment(const DeploymentRecord& record) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement update,
                   db_.Prepare("UPDATE deployments SET spec = ?3, state = ?4, reason = ?5, "
                               "warnings = ?6, generation = ?7, created_at_ms = ?8, "
                               "updated_at_ms = ?9 WHERE endpoint = ?1 AND name = ?2"));
  RETURN_IF_ERROR(BindDeployment(update, record));
  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db_));
  RETURN_IF_ERROR(update.Run());
  if (db_.Changes() == 0) {
    // Say which of the two is missing.
    ASSIGN_OR_RETURN(bool endpoint_exists, EndpointExistsLocked(record.endpoint));
    if (!endpoint_exists) return internal::EndpointNotFound(record.endpoint);
    return internal::DeploymentNotFound(record.endpoint, record.name);
  }
  return txn.Commit();
}

absl::Status SqliteStateStore::DeleteDeployment(const std::string& endpoint,
                                                const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(Statement remove,
                   db_.Prepare("DELETE FROM deployments WHERE endpoint = ?1 AND name = ?2"));
  RETURN_IF_ERROR(remove.Bind(1, endpoint).Bind(2, name).Run());
  if (db_.Changes() == 0) return internal::DeploymentNotFound(endpoint, name);
  return absl::OkStatus();
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
