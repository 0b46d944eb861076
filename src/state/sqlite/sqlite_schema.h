#pragma once
// The SQLite schema of the state database and its upgrades.
//
// The version lives in table `meta` (key 'schema_version'), apart from `settings`, so callers'
// settings can never clobber it. Version 0 is an empty file; each migration moves one version
// up, all pending ones in a single transaction.

#include "absl/status/status.h"
#include "state/sqlite/sqlite_db.h"

namespace berth::state::sqlite {

// The schema version this build writes and reads.
inline constexpr int kSchemaVersion = 4;

// Sets the connection's pragmas (WAL, synchronous=NORMAL, foreign keys, busy timeout) and
// brings the schema to kSchemaVersion. FAILED_PRECONDITION when the file was written by a newer
// berth (its schema version is higher), WAL cannot be enabled, or version 3 would merge two
// names that differ only in case; DATA_LOSS when the stored version is unreadable.
absl::Status ConfigureAndMigrate(Database& db);

}  // namespace berth::state::sqlite
