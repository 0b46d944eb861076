#include "state/sqlite/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::state::sqlite {
namespace {

absl::Status SqliteError(sqlite3* db, int code, absl::string_view context) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  return absl::InternalError(
      absl::StrCat(context, ": ", message, " (", sqlite3_errstr(code), ", code ", code, ")"));
}

}  // namespace

// ---- Statement ----

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      sql_(std::move(other.sql_)),
      bind_status_(std::move(other.bind_status_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    sql_ = std::move(other.sql_);
    bind_status_ = std::move(other.bind_status_);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, absl::string_view text) {
  if (!bind_status_.ok()) return *this;
  // SQLITE_TRANSIENT: SQLite copies, so callers may bind temporaries.
  int rc =
      sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) bind_status_ = Error(rc);
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  if (!bind_status_.ok()) return *this;
  int rc = sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(value));
  if (rc != SQLITE_OK) bind_status_ = Error(rc);
  return *this;
}

Statement& Statement::Reset() {
  // sqlite3_reset repeats the last step's error, which that step already returned.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_status_ = absl::OkStatus();
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_status_.ok()) return bind_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(rc);
}

absl::Status Statement::Run() {
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return std::string();
  // Bytes after text: embedded NULs survive.
  int size = sqlite3_column_bytes(stmt_, column);
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

int64_t Statement::ColumnInt64(int column) const {
  return static_cast<int64_t>(sqlite3_column_int64(stmt_, column));
}

absl::Status Statement::Error(int code) const {
  return SqliteError(db_, code, absl::StrCat("sqlite statement '", sql_, "'"));
}

// ---- Database ----

absl::StatusOr<Database> Database::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(db, rc, absl::StrCat("opening sqlite database ", path));
    sqlite3_close_v2(db);  // a handle is returned even on failure; null is a no-op
    return status;
  }
  return Database(db, path);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

// close_v2 defers the close until outstanding statements are finalized, so destruction order
// between a Database and stray Statements cannot leak or crash.
Database::~Database() { sqlite3_close_v2(db_); }

absl::StatusOr<Statement> Database::Prepare(absl::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteError(db_, rc, absl::StrCat("preparing sqlite statement '", sql, "'"));
  }
  return Statement(db_, stmt, std::string(sql));
}

absl::Status Database::Exec(absl::string_view sql) {
  const std::string text(sql);  // sqlite3_exec needs NUL termination
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, absl::StrCat("sqlite '", sql, "'"));
  return absl::OkStatus();
}

int64_t Database::Changes() const { return sqlite3_changes64(db_); }

bool Database::AutoCommit() const { return sqlite3_get_autocommit(db_) != 0; }

absl::Status Database::SetBusyTimeout(int milliseconds) {
  int rc = sqlite3_busy_timeout(db_, milliseconds);
  if (rc != SQLITE_OK) return SqliteError(db_, rc, "setting sqlite busy timeout");
  return absl::OkStatus();
}

absl::Status Database::Error(absl::string_view context) const {
  return SqliteError(db_, sqlite3_extended_errcode(db_), context);
}

// ---- Transaction ----

absl::StatusOr<Transaction> Transaction::Begin(Database& db) {
  absl::Status status = db.Exec("BEGIN IMMEDIATE");
  if (!status.ok()) return status;
  return Transaction(&db);
}

absl::StatusOr<Transaction> Transaction::BeginRead(Database& db) {
  absl::Status status = db.Exec("BEGIN DEFERRED");
  if (!status.ok()) return status;
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  // SQLite may already have rolled back on its own (e.g. SQLITE_FULL); ROLLBACK would then fail.
  if (db_ != nullptr && !db_->AutoCommit()) db_->Exec("ROLLBACK").IgnoreError();
}

absl::Status Transaction::Commit() {
  if (db_ == nullptr) return absl::FailedPreconditionError("transaction already finished");
  absl::Status status = db_->Exec("COMMIT");
  if (status.ok()) db_ = nullptr;
  return status;
}

}  // namespace berth::state::sqlite
