#pragma once
// SqliteStateStore: StateStore in one SQLite file (WAL mode), the embedded default.
//
// One connection serialized by a mutex; every call is one transaction, so a crash leaves each
// call either fully applied or not at all. Other processes (or other SqliteStateStore objects)
// may open the same file: writes take the lock up front (BEGIN IMMEDIATE) and wait up to 5 s
// for it, and revisions make their read-modify-writes safe (state_store.h).
//
// Revisions: table store_revision holds the counter; table changes logs one row per revision
// (kind, endpoint, deployment, deleted), pruned in the writing transaction to the latest
// `change_retention` rows. Endpoint and deployment name columns are COLLATE NOCASE.
//
// Resources live in table resources, keyed (kind, key) byte-wise; a key prefix is the key range
// [prefix, PrefixSuccessor(prefix)), which the primary key index serves. They take no part in
// the revision counter or the change log.

#include <cstdint>
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
  // FAILED_PRECONDITION if the file comes from a newer berth, cannot use WAL, or (from before
  // schema version 3) holds two names that differ only in case; INTERNAL on SQLite failures
  // (not a database, unwritable, ...). The latest `change_retention` changes (at least 1) are
  // kept for ChangesSince; stores sharing a file prune to the smallest retention among them.
  static absl::StatusOr<std::unique_ptr<SqliteStateStore>> Open(
      const std::filesystem::path& db_file, int64_t change_retention = kDefaultChangeRetention);

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

  absl::StatusOr<int64_t> Commit(const WriteBatch& batch) override;
  absl::StatusOr<int64_t> CurrentRevision() override;
  absl::StatusOr<ChangeBatch> ChangesSince(int64_t revision, size_t limit) override;

  absl::StatusOr<ModelRecord> GetModel(const std::string& name,
                                       const std::string& version) override;
  absl::StatusOr<std::vector<ModelRecord>> ListModels(const std::string& name) override;
  absl::Status CreateModel(const ModelRecord& record) override;
  absl::Status DeleteModel(const std::string& name, const std::string& version) override;

  absl::StatusOr<ResourceRecord> GetResource(const std::string& kind,
                                             const std::string& key) override;
  absl::StatusOr<std::vector<ResourceRecord>> ListResources(const std::string& kind,
                                                            const std::string& key_prefix) override;
  absl::StatusOr<std::vector<ResourceRecord>> CommitResources(
      const std::vector<ResourceWrite>& writes) override;
  absl::StatusOr<int64_t> DeleteResources(const std::string& kind,
                                          const std::string& key_prefix) override;

  absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& key) override;
  absl::Status PutSetting(const std::string& key, const std::string& value) override;

 private:
  SqliteStateStore(sqlite::Database db, int64_t change_retention)
      : change_retention_(change_retention), db_(std::move(db)) {}

  struct StoredRevision {
    int64_t current = 0;
    int64_t pruned_through = 0;  // changes after it are all in the log
  };
  absl::StatusOr<StoredRevision> ReadRevisionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Apply one write of a batch inside Commit's transaction; `revision` is the latest taken and
  // advances by one per change.
  absl::Status ApplyEndpointLocked(WriteBatch::Action action, const EndpointRecord& record,
                                   int64_t& revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyDeploymentLocked(WriteBatch::Action action, const DeploymentRecord& record,
                                     int64_t& revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AppendChangeLocked(const Change& change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The body of CommitResources, inside its transaction.
  absl::StatusOr<std::vector<ResourceRecord>> ApplyResourcesLocked(
      const std::vector<ResourceWrite>& writes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t change_retention_;
  absl::Mutex mu_;
  sqlite::Database db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::state
