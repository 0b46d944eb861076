#include "state/sqlite/sqlite_schema.h"

#include <cstdint>
#include <iterator>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace berth::state::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 5000;

// kMigrations[i] upgrades version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 -> 1: initial schema. Text columns are NOT NULL with defaults so reads never meet NULL.
    R"sql(
CREATE TABLE endpoints (
  name                 TEXT    NOT NULL PRIMARY KEY,
  spec                 TEXT    NOT NULL DEFAULT '{}',
  state                TEXT    NOT NULL,
  reason               TEXT    NOT NULL DEFAULT '',
  primary_key_sealed   TEXT    NOT NULL DEFAULT '',
  secondary_key_sealed TEXT    NOT NULL DEFAULT '',
  token_secret_sealed  TEXT    NOT NULL DEFAULT '',
  created_at_ms        INTEGER NOT NULL,
  updated_at_ms        INTEGER NOT NULL
);
CREATE TABLE deployments (
  endpoint      TEXT    NOT NULL REFERENCES endpoints(name) ON DELETE CASCADE,
  name          TEXT    NOT NULL,
  spec          TEXT    NOT NULL DEFAULT '{}',
  state         TEXT    NOT NULL,
  reason        TEXT    NOT NULL DEFAULT '',
  warnings      TEXT    NOT NULL DEFAULT '[]',
  generation    INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (endpoint, name)
);
CREATE TABLE settings (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
    // 1 -> 2: the model registry.
    R"sql(
CREATE TABLE models (
  name               TEXT    NOT NULL,
  version            TEXT    NOT NULL,
  spec               TEXT    NOT NULL DEFAULT '{}',
  artifact_digest    TEXT    NOT NULL DEFAULT '',
  artifact_base_name TEXT    NOT NULL DEFAULT '',
  artifact_is_file   INTEGER NOT NULL DEFAULT 0,
  created_at_ms      INTEGER NOT NULL,
  PRIMARY KEY (name, version)
);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion, "one migration per schema version");

absl::Status EnableWal(Database& db) {
  ASSIGN_OR_RETURN(Statement pragma, db.Prepare("PRAGMA journal_mode=WAL"));
  ASSIGN_OR_RETURN(bool has_row, pragma.Step());
  // SQLite answers with the mode now in force; it stays "delete"/"memory" where WAL is
  // impossible (e.g. a file system without shared memory).
  std::string mode = has_row ? pragma.ColumnText(0) : std::string();
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot enable write-ahead logging on the state database (journal mode is '",
                     mode, "'); put the data directory on a local file system"));
  }
  return absl::OkStatus();
}

// The stored version, 0 when `meta` has none yet.
absl::StatusOr<int> ReadVersion(Database& db) {
  ASSIGN_OR_RETURN(Statement select,
                   db.Prepare("SELECT value FROM meta WHERE key = 'schema_version'"));
  ASSIGN_OR_RETURN(bool has_row, select.Step());
  if (!has_row) return 0;
  std::string text = select.ColumnText(0);
  int version = 0;
  if (!absl::SimpleAtoi(text, &version) || version < 1) {
    return absl::DataLossError(
        absl::StrCat("state database: stored schema_version '", text, "' is not a version"));
  }
  return version;
}

}  // namespace

absl::Status ConfigureAndMigrate(Database& db) {
  // Busy timeout first: the pragmas below may wait on another process's lock.
  RETURN_IF_ERROR(db.SetBusyTimeout(kBusyTimeoutMs));
  RETURN_IF_ERROR(EnableWal(db));
  // NORMAL is durable across application crashes in WAL mode; only a power loss can drop the
  // last commits, never corrupt the file.
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=ON"));

  ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db));
  RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"));
  ASSIGN_OR_RETURN(int version, ReadVersion(db));
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state database has schema version ", version, ", newer than this berth understands (",
        kSchemaVersion, "); run a newer berth or restore a backup"));
  }
  if (version == kSchemaVersion) return txn.Commit();
  for (int from = version; from < kSchemaVersion; ++from) {
    RETURN_IF_ERROR(db.Exec(kMigrations[from]));
  }
  ASSIGN_OR_RETURN(Statement put, db.Prepare("INSERT INTO meta (key, value) VALUES "
                                             "('schema_version', ?1) ON CONFLICT(key) DO "
                                             "UPDATE SET value = excluded.value"));
  RETURN_IF_ERROR(put.Bind(1, std::to_string(kSchemaVersion)).Run());
  return txn.Commit();
}

}  // namespace berth::state::sqlite
