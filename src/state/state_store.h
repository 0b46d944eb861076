#pragma once
// StateStore: the only path to durable state (endpoints, deployments, registered models,
// secrets, settings).
//
// Records hold the user-declared spec as JSON (validated before it gets here) plus the
// status the control plane maintains. Implementations: SqliteStateStore (sqlite/, WAL,
// one transaction per call) and MemoryStateStore (memory/), which pass the same contract
// tests (state_store_contract_test.cc).
//
// Several writers may share one store (several daemons on one SQLite file), so endpoints and
// deployments carry a revision:
// - The store keeps one counter. Every change to an endpoint or deployment (create, update,
//   delete, each deployment removed by an endpoint delete) takes the next value, and a written
//   record carries the revision of its last change. Revisions only grow, store-wide.
// - Writes are conditional on the revision the record carries: an update (or a delete given an
//   expected revision) fails with ABORTED, changing nothing, when the stored record has another
//   revision, i.e. someone else wrote it since it was read. Revision 0 means unconditional,
//   so a record built from scratch overwrites and a record read from the store is checked.
//   Creates ignore the revision they are given.
// - Commit applies a WriteBatch of several writes atomically.
// - ChangesSince lists what changed after a revision, so a follower can apply changes instead
//   of reloading everything. The store keeps the latest `change_retention` changes; asking
//   from further back is OUT_OF_RANGE, and the caller reloads everything.
//
// Endpoint and deployment names are kept as first written but compared without regard to ASCII
// case: "Green" and "green" are one deployment, lookups by either find it and return the
// stored spelling, and an update or delete keeps the stored spelling. Lists sort byte-wise.
// Model names and versions are case-sensitive.
//
// Thread-safety: every method may be called from any thread concurrently.
// Errors: NOT_FOUND for a missing record (or a missing endpoint when writing a deployment),
// ALREADY_EXISTS on create of an existing record, ABORTED for a stale conditional write,
// OUT_OF_RANGE for a change feed position no longer kept, INVALID_ARGUMENT for values that
// cannot be stored, INTERNAL for storage failures.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"

namespace berth::state {

struct EndpointRecord {
  std::string name;
  nlohmann::json spec = nlohmann::json::object();  // user-declared fields, merged over updates
  core::ProvisioningState state = core::ProvisioningState::kCreating;
  std::string reason;  // why the last operation failed, "" otherwise
  // Secrets sealed by auth::SecretBox (opaque text); never stored in the clear.
  std::string primary_key_sealed;
  std::string secondary_key_sealed;
  std::string token_secret_sealed;
  int64_t created_at_ms = 0;  // Unix epoch milliseconds
  int64_t updated_at_ms = 0;
  // Set by the store on every write; a write of a record carrying a non-zero revision only
  // applies while the stored record still has it (see the file comment).
  int64_t revision = 0;
  bool operator==(const EndpointRecord&) const = default;
};

struct DeploymentRecord {
  std::string endpoint;
  std::string name;
  nlohmann::json spec = nlohmann::json::object();
  core::ProvisioningState state = core::ProvisioningState::kCreating;
  std::string reason;
  std::vector<std::string> warnings;  // from the last accepted write
  int64_t generation = 1;             // bumped on every accepted spec change
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t revision = 0;  // as EndpointRecord::revision
  bool operator==(const DeploymentRecord&) const = default;
};

// One registered model version (the model registry; controlplane/model_registry.h).
struct ModelRecord {
  std::string name;
  std::string version;
  // What the user declared besides name, version and files: type, description, tags,
  // properties, path as written.
  nlohmann::json spec = nlohmann::json::object();
  core::ArtifactRef artifact;  // the uploaded folder or file
  int64_t created_at_ms = 0;
  bool operator==(const ModelRecord&) const = default;
};

// One record of the batch side (docs/batch.md): batch endpoints and deployments, compute
// clusters, data assets, jobs and their mini-batches. They share one generic shape (a kind, a
// key and a JSON document) because their rules live in the batch component, not in the store.
//
// `kind` is one of the kResource* names below. `key` is chosen by the caller and unique per
// kind; it is compared byte-wise (callers fold case where names ignore it). Hierarchical keys
// use '/' ("<endpoint>/<deployment>", "<job>/<mini-batch>"), so ListResources(kind, "job/")
// lists one job's mini-batches. Resources are not part of the endpoint change feed.
struct ResourceRecord {
  std::string kind;
  std::string key;
  nlohmann::json doc = nlohmann::json::object();
  int64_t created_at_ms = 0;  // Unix epoch ms; a replace keeps the stored one
  int64_t updated_at_ms = 0;
  // 1 on create, +1 on every write of this record. A write carrying a non-zero revision only
  // applies while the stored record still has it (ABORTED otherwise), as for endpoints.
  int64_t revision = 0;
  bool operator==(const ResourceRecord&) const = default;
};

inline constexpr char kResourceBatchEndpoint[] = "batch-endpoint";
inline constexpr char kResourceBatchDeployment[] = "batch-deployment";
inline constexpr char kResourceCompute[] = "compute";
inline constexpr char kResourceData[] = "data";
inline constexpr char kResourceJob[] = "job";
inline constexpr char kResourceMiniBatch[] = "mini-batch";

// Several resource writes applied all or none, in order (each sees the ones before).
struct ResourceWrite {
  enum class Action { kCreate, kUpdate, kPut, kDelete };
  Action action = Action::kPut;
  // kDelete reads kind, key and revision (the expected one; 0 = unconditional).
  ResourceRecord record;
};

// How many changes a store keeps for ChangesSince unless told otherwise. At a few writes a
// second that is hours of history; a follower further behind reloads everything.
inline constexpr int64_t kDefaultChangeRetention = 100'000;

enum class RecordKind { kEndpoint, kDeployment };

// One entry of the change feed: the record `kind` named by (endpoint, deployment) took
// `revision`. Names are spelled as stored. Read the record for its new contents unless
// `deleted`.
struct Change {
  int64_t revision = 0;
  RecordKind kind = RecordKind::kEndpoint;
  std::string endpoint;
  std::string deployment;  // "" for an endpoint change
  bool deleted = false;
  bool operator==(const Change&) const = default;
};

struct ChangeBatch {
  std::vector<Change> changes;  // ascending revision, at most the `limit` asked for
  // The store's revision when the batch was read. With fewer than `limit` changes the caller
  // has seen everything through it and asks next from here; with `limit` changes it asks next
  // from changes.back().revision.
  int64_t current_revision = 0;
  bool operator==(const ChangeBatch&) const = default;
};

// Several endpoint and deployment writes that Commit applies all or none. Operations apply in
// the order added, each seeing the ones before (create an endpoint, then its deployment).
// Each behaves as the StateStore method of the same name, with the same errors; Put creates
// when absent and replaces when present (a Put carrying a non-zero revision is an Update).
// Deletes apply only while the stored record has `expected_revision`, unless it is 0.
class WriteBatch {
 public:
  enum class Action { kCreate, kUpdate, kPut, kDelete };
  struct Op {
    Action action = Action::kCreate;
    RecordKind kind = RecordKind::kEndpoint;
    // The record written, for kind kEndpoint / kDeployment. A delete reads only the names and
    // the revision (its expected revision).
    EndpointRecord endpoint;
    DeploymentRecord deployment;
  };

  WriteBatch& CreateEndpoint(EndpointRecord record);
  WriteBatch& UpdateEndpoint(EndpointRecord record);
  WriteBatch& PutEndpoint(EndpointRecord record);
  WriteBatch& DeleteEndpoint(std::string name, int64_t expected_revision = 0);
  WriteBatch& CreateDeployment(DeploymentRecord record);
  WriteBatch& UpdateDeployment(DeploymentRecord record);
  WriteBatch& PutDeployment(DeploymentRecord record);
  WriteBatch& DeleteDeployment(std::string endpoint, std::string name,
                               int64_t expected_revision = 0);

  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  WriteBatch& Add(Action action, EndpointRecord record);
  WriteBatch& Add(Action action, DeploymentRecord record);

  std::vector<Op> ops_;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual absl::StatusOr<EndpointRecord> GetEndpoint(const std::string& name) = 0;
  // Sorted by name, byte-wise.
  virtual absl::StatusOr<std::vector<EndpointRecord>> ListEndpoints() = 0;
  virtual absl::Status CreateEndpoint(const EndpointRecord& record) = 0;
  // Replaces the whole record but its name; NOT_FOUND if absent, ABORTED if record.revision is
  // not 0 and not the stored one.
  virtual absl::Status UpdateEndpoint(const EndpointRecord& record) = 0;
  // Deletes the endpoint and all its deployments, unconditionally (a conditional delete is a
  // WriteBatch of one).
  virtual absl::Status DeleteEndpoint(const std::string& name) = 0;

  virtual absl::StatusOr<DeploymentRecord> GetDeployment(const std::string& endpoint,
                                                         const std::string& name) = 0;
  // Sorted by name, byte-wise. An unknown endpoint gives an empty list.
  virtual absl::StatusOr<std::vector<DeploymentRecord>> ListDeployments(
      const std::string& endpoint) = 0;
  // The record's `endpoint` is stored as the endpoint spells it.
  virtual absl::Status CreateDeployment(const DeploymentRecord& record) = 0;
  // As UpdateEndpoint; the endpoint and name keep their stored spelling.
  virtual absl::Status UpdateDeployment(const DeploymentRecord& record) = 0;
  virtual absl::Status DeleteDeployment(const std::string& endpoint, const std::string& name) = 0;

  // Applies every write of `batch` or none: the first that fails (NOT_FOUND, ALREADY_EXISTS,
  // ABORTED, INVALID_ARGUMENT) is returned and nothing changes. Returns the store's revision
  // after the batch (that of its last change). Each written record gets its own revision.
  virtual absl::StatusOr<int64_t> Commit(const WriteBatch& batch) = 0;

  // The revision of the latest change, 0 for a store never written.
  virtual absl::StatusOr<int64_t> CurrentRevision() = 0;
  // Up to `limit` (at least 1) changes after `revision`, in revision order. OUT_OF_RANGE when
  // changes after `revision` are no longer kept or `revision` is ahead of the store (e.g. the
  // caller followed another database): reload everything, then follow from the
  // current_revision read before reloading.
  virtual absl::StatusOr<ChangeBatch> ChangesSince(int64_t revision, size_t limit) = 0;

  virtual absl::StatusOr<ModelRecord> GetModel(const std::string& name,
                                               const std::string& version) = 0;
  // The versions of model `name` ("" = of every model), sorted by name (byte-wise), then by
  // version: integer versions first, in numeric order, then the others byte-wise.
  virtual absl::StatusOr<std::vector<ModelRecord>> ListModels(const std::string& name) = 0;
  virtual absl::Status CreateModel(const ModelRecord& record) = 0;
  virtual absl::Status DeleteModel(const std::string& name, const std::string& version) = 0;

  // Batch-side resources (ResourceRecord). NOT_FOUND naming kind and key when absent.
  virtual absl::StatusOr<ResourceRecord> GetResource(const std::string& kind,
                                                     const std::string& key) = 0;
  // The records of `kind` whose key starts with `key_prefix` ("" = all), sorted by key
  // byte-wise.
  virtual absl::StatusOr<std::vector<ResourceRecord>> ListResources(
      const std::string& kind, const std::string& key_prefix) = 0;
  // Applies every write or none; the first failure is returned and nothing changes:
  // kCreate: ALREADY_EXISTS when present. kUpdate: NOT_FOUND when absent, ABORTED on a stale
  // non-zero revision. kPut: creates or replaces (a non-zero revision makes it an update).
  // kDelete: NOT_FOUND when absent, ABORTED on a stale non-zero revision.
  // The caller sets the times; the store sets the revision and, on replace, keeps the stored
  // created_at_ms. Returns the records as written (deleted ones as they were), in order.
  virtual absl::StatusOr<std::vector<ResourceRecord>> CommitResources(
      const std::vector<ResourceWrite>& writes) = 0;
  // Deletes every record of `kind` whose key starts with `key_prefix` (not "": refuses
  // INVALID_ARGUMENT). Returns how many went.
  virtual absl::StatusOr<int64_t> DeleteResources(const std::string& kind,
                                                  const std::string& key_prefix) = 0;

  // Small named values (admin token hash, schema version). nullopt when unset.
  virtual absl::StatusOr<std::optional<std::string>> GetSetting(const std::string& key) = 0;
  virtual absl::Status PutSetting(const std::string& key, const std::string& value) = 0;
};

}  // namespace berth::state
