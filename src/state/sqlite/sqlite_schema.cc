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

// Fails, naming them, when rows that version 3 makes one (names equal but for ASCII case) exist.
absl::Status CheckNoNamesDifferOnlyInCase(Database& db);

// kMigrations[i] upgrades version i to i + 1: `check` (when set) refuses a database the SQL
// cannot upgrade, before anything changes.
struct Migration {
  const char* sql;
  absl::Status (*check)(Database& db) = nullptr;
};
constexpr Migration kMigrations[] = {
    // 0 -> 1: initial schema. Text columns are NOT NULL with defaults so reads never meet NULL.
    {R"sql(
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
)sql"},
    // 1 -> 2: the model registry.
    {R"sql(
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
)sql"},
    // 2 -> 3: revisions and the change log, for several writers sharing the database; endpoint
    // and deployment names unique regardless of ASCII case. A column's collation cannot be
    // altered, so both tables are rebuilt (foreign keys are off meanwhile: dropping the old
    // endpoints table must not cascade). Existing rows get revisions 1..N, all older than the
    // log, which starts empty.
    {R"sql(
CREATE TABLE endpoints_v3 (
  name                 TEXT    NOT NULL COLLATE NOCASE PRIMARY KEY,
  spec                 TEXT    NOT NULL DEFAULT '{}',
  state                TEXT    NOT NULL,
  reason               TEXT    NOT NULL DEFAULT '',
  primary_key_sealed   TEXT    NOT NULL DEFAULT '',
  secondary_key_sealed TEXT    NOT NULL DEFAULT '',
  token_secret_sealed  TEXT    NOT NULL DEFAULT '',
  created_at_ms        INTEGER NOT NULL,
  updated_at_ms        INTEGER NOT NULL,
  revision             INTEGER NOT NULL
);
INSERT INTO endpoints_v3 (name, spec, state, reason, primary_key_sealed, secondary_key_sealed,
                          token_secret_sealed, created_at_ms, updated_at_ms, revision)
  SELECT name, spec, state, reason, primary_key_sealed, secondary_key_sealed,
         token_secret_sealed, created_at_ms, updated_at_ms, 0
  FROM endpoints ORDER BY name;
UPDATE endpoints_v3 SET revision = rowid;
CREATE TABLE deployments_v3 (
  endpoint      TEXT    NOT NULL COLLATE NOCASE REFERENCES endpoints(name) ON DELETE CASCADE,
  name          TEXT    NOT NULL COLLATE NOCASE,
  spec          TEXT    NOT NULL DEFAULT '{}',
  state         TEXT    NOT NULL,
  reason        TEXT    NOT NULL DEFAULT '',
  warnings      TEXT    NOT NULL DEFAULT '[]',
  generation    INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  revision      INTEGER NOT NULL,
  PRIMARY KEY (endpoint, name)
);
INSERT INTO deployments_v3 (endpoint, name, spec, state, reason, warnings, generation,
                            created_at_ms, updated_at_ms, revision)
  SELECT endpoint, name, spec, state, reason, warnings, generation, created_at_ms,
         updated_at_ms, 0
  FROM deployments ORDER BY endpoint, name;
UPDATE deployments_v3
  SET revision = rowid + (SELECT coalesce(max(revision), 0) FROM endpoints_v3);
DROP TABLE deployments;
DROP TABLE endpoints;
ALTER TABLE endpoints_v3 RENAME TO endpoints;
ALTER TABLE deployments_v3 RENAME TO deployments;
-- One row per revision since pruned_through; `deployment` is '' for an endpoint change.
CREATE TABLE changes (
  revision   INTEGER NOT NULL PRIMARY KEY,
  kind       TEXT    NOT NULL,
  endpoint   TEXT    NOT NULL,
  deployment TEXT    NOT NULL DEFAULT '',
  deleted    INTEGER NOT NULL
);
-- The store's revision, and the latest one whose change may be gone from `changes`.
CREATE TABLE store_revision (
  id               INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
  current_revision INTEGER NOT NULL,
  pruned_through   INTEGER NOT NULL
);
INSERT INTO store_revision (id, current_revision, pruned_through)
  SELECT 1, r, r FROM (SELECT max((SELECT coalesce(max(revision), 0) FROM endpoints),
                                  (SELECT coalesce(max(revision), 0) FROM deployments)) AS r);
)sql",
     CheckNoNamesDifferOnlyInCase},
    // 3 -> 4: the batch side's generic records (ResourceRecord). Keys compare byte-wise
    // (BINARY), so prefix lists are key ranges on the primary key.
    {R"sql(
CREATE TABLE resources (
  kind          TEXT    NOT NULL COLLATE BINARY,
  key           TEXT    NOT NULL COLLATE BINARY,
  doc           TEXT    NOT NULL DEFAULT '{}',
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  revision      INTEGER NOT NULL,
  PRIMARY KEY (kind, key)
);
)sql"},
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

absl::Status CheckNoNamesDifferOnlyInCase(Database& db) {
  // lower() folds ASCII only, as NOCASE does.
  ASSIGN_OR_RETURN(Statement endpoints,
                   db.Prepare("SELECT a.name, b.name FROM endpoints a JOIN endpoints b "
                              "ON lower(a.name) = lower(b.name) AND a.name < b.name LIMIT 1"));
  ASSIGN_OR_RETURN(bool clash, endpoints.Step());
  if (clash) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state database holds endpoints '", endpoints.ColumnText(0), "' and '",
        endpoints.ColumnText(1),
        "', whose names differ only in case; this berth treats names case-insensitively: "
        "delete one of them with the berth that wrote the database"));
  }
  ASSIGN_OR_RETURN(
      Statement deployments,
      db.Prepare("SELECT a.endpoint, a.name, b.name FROM deployments a JOIN deployments b "
                 "ON a.endpoint = b.endpoint AND lower(a.name) = lower(b.name) "
                 "AND a.name < b.name LIMIT 1"));
  ASSIGN_OR_RETURN(clash, deployments.Step());
  if (clash) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state database holds deployments '", deployments.ColumnText(1), "' and '",
        deployments.ColumnText(2), "' of endpoint '", deployments.ColumnText(0),
        "', whose names differ only in case; this berth treats names case-insensitively: "
        "delete one of them with the berth that wrote the database"));
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

absl::Status Migrate(Database& db) {
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
    if (kMigrations[from].check != nullptr) RETURN_IF_ERROR(kMigrations[from].check(db));
    RETURN_IF_ERROR(db.Exec(kMigrations[from].sql));
  }
  ASSIGN_OR_RETURN(Statement put, db.Prepare("INSERT INTO meta (key, value) VALUES "
                                             "('schema_version', ?1) ON CONFLICT(key) DO "
                                             "UPDATE SET value = excluded.value"));
  RETURN_IF_ERROR(put.Bind(1, std::to_string(kSchemaVersion)).Run());
  return txn.Commit();
}

}  // namespace

absl::Status ConfigureAndMigrate(Database& db) {
  // Busy timeout first: the pragmas below may wait on another process's lock.
  RETURN_IF_ERROR(db.SetBusyTimeout(kBusyTimeoutMs));
  RETURN_IF_ERROR(EnableWal(db));
  // NORMAL is durable across application crashes in WAL mode; only a power loss can drop the
  // last commits, never corrupt the file.
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous=NORMAL"));
  // Off while migrating: a migration that rebuilds a parent table must not cascade deletes
  // (the pragma cannot change inside a transaction, so it brackets it).
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys=OFF"));
  RETURN_IF_ERROR(Migrate(db));
  return db.Exec("PRAGMA foreign_keys=ON");
}

}  // namespace berth::state::sqlite
