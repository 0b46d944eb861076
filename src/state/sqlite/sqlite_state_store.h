#pragma once
// SqliteStateStore: StateStore in one SQLite file (WAL mode), the embedded default.
//
// One connection serialized by a mutex; every call is one transaction, so a crash leaves each
// call either fully applied or not at all. Other processes may open the same file: writes
// take the lock up front (BEGIN IMMEDIATE) and wait up to 5 s for it.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "state/sqlite/sqlite_db.h"
#include "state/state_store.h"

namespace berth::state {

class SqliteStateStore final : public StateStore {
 public:
  // Opens or creates `db_file` (its parent folder must exist) and upgrades its schema.
  // FAILED_PRECONDITION if the file comes from a newer berth or cannot use WAL; INTERNAL on
  // SQLite failures (not a database, unwritable, ...).
  static absl::StatusOr<std::unique_ptr<SqliteStateStore>> Open(
      const std::filesystem::path& db_file);

  absl::StatusOr<EndpointRecord> GetEndpoint(const std::string& name) override;
  absl::StatusOr<std::vector<EndpointRecord>> ListEndpoints() override;
  absl::Status CreateEndpoint(const EndpointRecord& record) override;
  absl::Status UpdateEndpoint(const EndpointRecord& record) override;
  absl::Status DeleteEndpoint(const std::string& name) override;

  absl::StatusOr<DeploymentRecord> GetDeployment(const std::string& endpoint,
                                                 const std::string& name) override;
  absl::StatusOr<std::vector<DeploymentRecord>> ListDeployments(
      const std::string& endpoint) override;
  absl::Status CreateDeployment(const DeploymentRecord& record) override;
  absl::Status UpdateDeployment(const DeploymentRecord& record) override;
  absl::Status DeleteDeployment(const std::string& endpoint, const std::string& name) override;

  absl::StatusOr<ModelRecord> GetModel(const std::string& name,
                                       const std::string& version) override;
  absl::StatusOr<std::vector<ModelRecord>> ListModels(const std::string& name) override;
  absl::Status CreateModel(const ModelRecord& record) override;
  absl::Status DeleteModel(const std::string& name, const std::string& version) override;

  absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& key) override;
  absl::Status PutSetting(const std::string& key, const std::string& value) override;

 private:
  explicit SqliteStateStore(sqlite::Database db) : db_(std::move(db)) {}

  absl::StatusOr<bool> EndpointExistsLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite::Database db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::state
