#pragma once
// The persisted form of batch jobs and their mini-batches (docs/batch.md): plain values and
// their codec to StateStore resources (kind "job", key = job name; kind "mini-batch", key =
// MiniBatchKey). The scheduler is the only writer of a job once it is created; the service
// creates it and reads it for views.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/batch_spec.h"
#include "nlohmann/json.hpp"
#include "state/state_store.h"

namespace berth::batch {

// Counts over the whole job. Items are input files: a mini-batch's items succeed as many as
// run() returned (at most its file count); the rest fail (docs/batch.md, "Decisions").
struct JobCounts {
  int64_t mini_batches_total = 0;
  int64_t mini_batches_succeeded = 0;
  int64_t mini_batches_failed = 0;  // out of tries
  int64_t items_total = 0;
  int64_t items_succeeded = 0;
  int64_t items_failed = 0;
  bool operator==(const JobCounts&) const = default;
};

// One failed attempt, for `job show` (the first kMaxJobErrors are kept).
struct AttemptError {
  int64_t mini_batch = 0;
  std::vector<std::string> files;  // relative to the input
  int attempt = 0;
  std::string message;
  bool operator==(const AttemptError&) const = default;
};
inline constexpr size_t kMaxJobErrors = 20;

struct Job {
  std::string name;
  std::string endpoint;
  std::string deployment;
  core::JobStatus status = core::JobStatus::kNotStarted;
  core::JobPriority priority = core::JobPriority::kNormal;
  std::string compute;  // "" = berthd's own workers
  std::string experiment_name;
  std::string description;
  std::map<std::string, std::string> tags;
  core::JobInput input;          // as requested
  std::string input_host_path;   // the folder or file this host reads
  std::string output_uri;        // azureml://datastores/<store>/paths/<path>
  std::string output_host_path;  // its folder on this host
  // The deployment as it was when the job was created (ToJson(BatchDeploymentSpec), with a
  // registered model resolved to its exact version and files).
  nlohmann::json deployment_spec = nlohmann::json::object();
  core::EffectiveJobSettings settings;
  JobCounts counts;
  std::vector<AttemptError> errors;
  std::string error;  // why the job failed or was canceled
  int64_t created_at_ms = 0;
  int64_t started_at_ms = 0;  // first Running
  int64_t ended_at_ms = 0;
  int64_t revision = 0;  // of the record read (conditional writes)
  bool operator==(const Job&) const = default;
};

enum class MiniBatchState { kPending, kSucceeded, kFailed };

struct MiniBatch {
  std::string job;
  int64_t index = 0;
  std::vector<std::string> files;  // relative to the input root, sorted
  MiniBatchState state = MiniBatchState::kPending;
  int attempts = 0;  // tries made that counted (preemption and cancel do not count)
  int64_t items_succeeded = 0;
  int64_t items_failed = 0;
  std::string error;  // the last attempt's, when it failed
  // Where a succeeded mini-batch's output lines are: a byte range of a segment file in the
  // job's parts/ folder (append_row). Recording the range is what commits the output.
  std::string part_file;
  int64_t part_offset = 0;
  int64_t part_length = 0;
  int64_t revision = 0;
  bool operator==(const MiniBatch&) const = default;
};

// "<job>/<index as 8 digits>", so a job's mini-batches list in index order.
std::string MiniBatchKey(const std::string& job, int64_t index);
std::string MiniBatchPrefix(const std::string& job);  // "<job>/"

state::ResourceRecord ToRecord(const Job& job);
absl::StatusOr<Job> JobFromRecord(const state::ResourceRecord& record);
state::ResourceRecord ToRecord(const MiniBatch& mini_batch);
absl::StatusOr<MiniBatch> MiniBatchFromRecord(const state::ResourceRecord& record);

// Where a job keeps its files: <data-dir>/jobs/<job>/ (docs/batch.md, "Job folder").
struct JobPaths {
  std::filesystem::path root;  // the job's folder
  std::filesystem::path driver_log() const { return root / "azureml-logs" / "70_driver_log.txt"; }
  std::filesystem::path logs() const { return root / "logs"; }  // Azure's logs/ layout
  // Mini-batch output: append-only segment files, one per worker run (MiniBatch::part_file).
  std::filesystem::path parts() const { return root / "parts"; }
  std::filesystem::path workers() const { return root / "workers"; }  // instance folders
};
inline JobPaths PathsOf(const std::filesystem::path& jobs_root, const std::string& job) {
  return {jobs_root / job};
}

// Reads and writes jobs and mini-batches through the StateStore. Thread-safe (the store is).
class JobRepository {
 public:
  explicit JobRepository(state::StateStore& store) : store_(store) {}
  absl::StatusOr<Job> Get(const std::string& name);
  // Every job, newest first (created_at_ms descending, then name).
  absl::StatusOr<std::vector<Job>> List();
  absl::Status Create(const Job& job);
  // Conditional on job.revision when non-zero; returns the revision written.
  absl::StatusOr<int64_t> Update(const Job& job);
  absl::StatusOr<std::vector<MiniBatch>> MiniBatches(const std::string& job);
  // Writes mini-batches (and, when given, the job) in one atomic commit; returns the job's new
  // revision (0 when no job was given).
  absl::StatusOr<int64_t> Commit(const std::vector<MiniBatch>& mini_batches, const Job* job);

 private:
  state::StateStore& store_;
};

}  // namespace berth::batch
