#pragma once
// Small RAII wrappers over the sqlite3 C API: a connection, a prepared statement and a
// transaction. Every failure becomes INTERNAL carrying sqlite3_errmsg and the operation.
//
// Not thread-safe: the owner serializes all use of one Database and its statements.

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::state::sqlite {

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind parameter `index` (1-based). Errors are kept and returned by the next Step/Run, so
  // binds can be chained without checking each one.
  Statement& Bind(int index, absl::string_view text);
  Statement& Bind(int index, int64_t value);

  // Rewinds for another run: bindings (and a kept bind error) are cleared, and a statement
  // stopped midway releases what it holds. For one statement run many times in a loop.
  Statement& Reset();

  // Advances: true when a row is ready, false when the statement is done.
  absl::StatusOr<bool> Step();
  // Steps to the end, ignoring rows (writes).
  absl::Status Run();

  // Columns of the current row (0-based). NULL reads as "" or 0.
  std::string ColumnText(int column) const;
  int64_t ColumnInt64(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql)
      : db_(db), stmt_(stmt), sql_(std::move(sql)) {}
  absl::Status Error(int code) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;  // for error messages
  absl::Status bind_status_;
};

class Database {
 public:
  // Opens (creating if needed) the database file read-write. The caller serializes access, so
  // SQLite's own connection mutex is left off.
  static absl::StatusOr<Database> Open(const std::string& path);

  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // One SQL statement with parameters.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // One or more SQL statements without parameters (schema, pragmas, BEGIN/COMMIT).
  absl::Status Exec(absl::string_view sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  // True outside an explicit transaction.
  bool AutoCommit() const;
  absl::Status SetBusyTimeout(int milliseconds);

  // INTERNAL "<context>: <sqlite3_errmsg> (<code name>)" for the last failed call.
  absl::Status Error(absl::string_view context) const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed uncommitted, so an early error return
// leaves the database untouched. IMMEDIATE takes the write lock up front: a read-then-write
// transaction cannot fail midway with SQLITE_BUSY against another process.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Database& db);
  // BEGIN DEFERRED, for reads only: every statement until Commit sees one snapshot of the
  // database, and writers are not held up.
  static absl::StatusOr<Transaction> BeginRead(Database& db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;  // null once committed or moved from
};

}  // namespace berth::state::sqlite
