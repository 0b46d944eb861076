#include "batch/job_record.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/status_macros.h"

namespace berth::batch {
namespace {

using nlohmann::json;

json ArtifactJson(const core::ArtifactRef& artifact) {
  return {{"digest", artifact.digest},
          {"base_name", artifact.base_name},
          {"is_file", artifact.is_file}};
}

const char* MiniBatchStateName(MiniBatchState state) {
  switch (state) {
    case MiniBatchState::kPending:
      return "pending";
    case MiniBatchState::kSucceeded:
      return "succeeded";
    case MiniBatchState::kFailed:
      return "failed";
  }
  return "pending";
}

// A record whose document this version cannot read: the store holds something it did not
// write (or a newer berthd wrote it).
absl::Status Unreadable(const state::ResourceRecord& record, std::string_view why) {
  return absl::DataLossError("stored " + record.kind + " '" + record.key +
                             "' cannot be read: " + std::string(why));
}

}  // namespace

std::string MiniBatchKey(const std::string& job, int64_t index) {
  char digits[24];
  std::snprintf(digits, sizeof(digits), "%08lld", static_cast<long long>(index));
  return MiniBatchPrefix(job) + digits;
}

std::string MiniBatchPrefix(const std::string& job) { return job + "/"; }

state::ResourceRecord ToRecord(const Job& job) {
  json input = {{"type", core::DataTypeName(job.input.type)}, {"path", job.input.path}};
  if (job.input.artifact) input["artifact"] = ArtifactJson(*job.input.artifact);
  json errors = json::array();
  for (const AttemptError& e : job.errors) {
    errors.push_back({{"mini_batch", e.mini_batch},
                      {"files", e.files},
                      {"attempt", e.attempt},
                      {"message", e.message}});
  }
  state::ResourceRecord record;
  record.kind = state::kResourceJob;
  record.key = job.name;
  record.doc = {
      {"name", job.name},
      {"endpoint", job.endpoint},
      {"deployment", job.deployment},
      {"status", core::JobStatusName(job.status)},
      {"priority", core::JobPriorityName(job.priority)},
      {"compute", job.compute},
      {"experiment_name", job.experiment_name},
      {"description", job.description},
      {"tags", job.tags},
      {"input", std::move(input)},
      {"input_host_path", job.input_host_path},
      {"output_uri", job.output_uri},
      {"output_host_path", job.output_host_path},
      {"deployment_spec", job.deployment_spec},
      {"settings", core::ToJson(job.settings)},
      {"counts",
       {{"mini_batches_total", job.counts.mini_batches_total},
        {"mini_batches_succeeded", job.counts.mini_batches_succeeded},
        {"mini_batches_failed", job.counts.mini_batches_failed},
        {"items_total", job.counts.items_total},
        {"items_succeeded", job.counts.items_succeeded},
        {"items_failed", job.counts.items_failed}}},
      {"errors", std::move(errors)},
      {"error", job.error},
      {"started_at_ms", job.started_at_ms},
      {"ended_at_ms", job.ended_at_ms},
  };
  record.created_at_ms = job.created_at_ms;
  record.updated_at_ms = std::max({job.created_at_ms, job.started_at_ms, job.ended_at_ms});
  record.revision = job.revision;
  return record;
}

absl::StatusOr<Job> JobFromRecord(const state::ResourceRecord& record) {
  // The document is what ToRecord wrote; nlohmann's exceptions stop here.
  try {
    const json& doc = record.doc;
    Job job;
    job.name = doc.at("name").get<std::string>();
    job.endpoint = doc.at("endpoint").get<std::string>();
    job.deployment = doc.at("deployment").get<std::string>();
    std::optional<core::JobStatus> status =
        core::ParseJobStatus(doc.at("status").get<std::string>());
    if (!status) return Unreadable(record, "unknown status " + doc.at("status").dump());
    job.status = *status;
    job.priority =
        doc.at("priority").get<std::string>() == core::JobPriorityName(core::JobPriority::kLow)
            ? core::JobPriority::kLow
            : core::JobPriority::kNormal;
    job.compute = doc.value("compute", "");
    job.experiment_name = doc.value("experiment_name", "");
    job.description = doc.value("description", "");
    job.tags = doc.value("tags", std::map<std::string, std::string>{});
    const json& input = doc.at("input");
    std::optional<core::DataType> type = core::ParseDataType(input.at("type").get<std::string>());
    if (!type) return Unreadable(record, "unknown input type " + input.at("type").dump());
    job.input.type = *type;
    job.input.path = input.at("path").get<std::string>();
    if (auto a = input.find("artifact"); a != input.end() && a->is_object()) {
      job.input.artifact =
          core::ArtifactRef{a->at("digest").get<std::string>(),
                            a->at("base_name").get<std::string>(), a->at("is_file").get<bool>()};
    }
    job.input_host_path = doc.value("input_host_path", "");
    job.output_uri = doc.value("output_uri", "");
    job.output_host_path = doc.value("output_host_path", "");
    job.deployment_spec = doc.value("deployment_spec", json::object());
    absl::StatusOr<core::EffectiveJobSettings> settings =
        core::ParseEffectiveJobSettings(doc.at("settings"));
    if (!settings.ok()) return Unreadable(record, settings.status().ToString());
    job.settings = *std::move(settings);
    const json& counts = doc.at("counts");
    job.counts.mini_batches_total = counts.at("mini_batches_total").get<int64_t>();
    job.counts.mini_batches_succeeded = counts.at("mini_batches_succeeded").get<int64_t>();
    job.counts.mini_batches_failed = counts.at("mini_batches_failed").get<int64_t>();
    job.counts.items_total = counts.at("items_total").get<int64_t>();
    job.counts.items_succeeded = counts.at("items_succeeded").get<int64_t>();
    job.counts.items_failed = counts.at("items_failed").get<int64_t>();
    for (const json& e : doc.value("errors", json::array())) {
      job.errors.push_back(AttemptError{
          e.at("mini_batch").get<int64_t>(), e.at("files").get<std::vector<std::string>>(),
          e.at("attempt").get<int>(), e.at("message").get<std::string>()});
    }
    job.error = doc.value("error", "");
    job.created_at_ms = record.created_at_ms;
    job.started_at_ms = doc.value("started_at_ms", int64_t{0});
    job.ended_at_ms = doc.value("ended_at_ms", int64_t{0});
    job.revision = record.revision;
    return job;
  } catch (const json::exception& e) {
    return Unreadable(record, e.what());
  }
}

state::ResourceRecord ToRecord(const MiniBatch& mini_batch) {
  state::ResourceRecord record;
  record.kind = state::kResourceMiniBatch;
  record.key = MiniBatchKey(mini_batch.job, mini_batch.index);
  record.doc = {{"job", mini_batch.job},
                {"index", mini_batch.index},
                {"files", mini_batch.files},
                {"state", MiniBatchStateName(mini_batch.state)},
                {"attempts", mini_batch.attempts},
                {"items_succeeded", mini_batch.items_succeeded},
                {"items_failed", mini_batch.items_failed},
                {"error", mini_batch.error}};
  if (!mini_batch.part_file.empty()) {
    record.doc["part"] = {{"file", mini_batch.part_file},
                          {"offset", mini_batch.part_offset},
                          {"length", mini_batch.part_length}};
  }
  record.revision = mini_batch.revision;
  return record;
}

absl::StatusOr<MiniBatch> MiniBatchFromRecord(const state::ResourceRecord& record) {
  try {
    const json& doc = record.doc;
    MiniBatch mini_batch;
    mini_batch.job = doc.at("job").get<std::string>();
    mini_batch.index = doc.at("index").get<int64_t>();
    mini_batch.files = doc.at("files").get<std::vector<std::string>>();
    const std::string state = doc.at("state").get<std::string>();
    if (state == "pending") {
      mini_batch.state = MiniBatchState::kPending;
    } else if (state == "succeeded") {
      mini_batch.state = MiniBatchState::kSucceeded;
    } else if (state == "failed") {
      mini_batch.state = MiniBatchState::kFailed;
    } else {
      return Unreadable(record, "unknown state '" + state + "'");
    }
    mini_batch.attempts = doc.at("attempts").get<int>();
    mini_batch.items_succeeded = doc.at("items_succeeded").get<int64_t>();
    mini_batch.items_failed = doc.at("items_failed").get<int64_t>();
    mini_batch.error = doc.value("error", "");
    if (auto part = doc.find("part"); part != doc.end()) {
      mini_batch.part_file = part->at("file").get<std::string>();
      mini_batch.part_offset = part->at("offset").get<int64_t>();
      mini_batch.part_length = part->at("length").get<int64_t>();
    }
    mini_batch.revision = record.revision;
    return mini_batch;
  } catch (const json::exception& e) {
    return Unreadable(record, e.what());
  }
}

// -------------------------------------------------------------------------------- repository

absl::StatusOr<Job> JobRepository::Get(const std::string& name) {
  ASSIGN_OR_RETURN(state::ResourceRecord record, store_.GetResource(state::kResourceJob, name));
  return JobFromRecord(record);
}

absl::StatusOr<std::vector<Job>> JobRepository::List() {
  ASSIGN_OR_RETURN(std::vector<state::ResourceRecord> records,
                   store_.ListResources(state::kResourceJob, ""));
  std::vector<Job> jobs;
  jobs.reserve(records.size());
  for (const state::ResourceRecord& record : records) {
    ASSIGN_OR_RETURN(Job job, JobFromRecord(record));
    jobs.push_back(std::move(job));
  }
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    if (a.created_at_ms != b.created_at_ms) return a.created_at_ms > b.created_at_ms;
    return a.name < b.name;
  });
  return jobs;
}

absl::Status JobRepository::Create(const Job& job) {
  state::ResourceWrite write{state::ResourceWrite::Action::kCreate, ToRecord(job)};
  return store_.CommitResources({write}).status();
}

absl::StatusOr<int64_t> JobRepository::Update(const Job& job) {
  state::ResourceWrite write{state::ResourceWrite::Action::kUpdate, ToRecord(job)};
  ASSIGN_OR_RETURN(std::vector<state::ResourceRecord> written, store_.CommitResources({write}));
  return written.back().revision;
}

absl::StatusOr<std::vector<MiniBatch>> JobRepository::MiniBatches(const std::string& job) {
  ASSIGN_OR_RETURN(std::vector<state::ResourceRecord> records,
                   store_.ListResources(state::kResourceMiniBatch, MiniBatchPrefix(job)));
  std::vector<MiniBatch> mini_batches;
  mini_batches.reserve(records.size());
  for (const state::ResourceRecord& record : records) {
    ASSIGN_OR_RETURN(MiniBatch mini_batch, MiniBatchFromRecord(record));
    mini_batches.push_back(std::move(mini_batch));
  }
  return mini_batches;
}

absl::StatusOr<int64_t> JobRepository::Commit(const std::vector<MiniBatch>& mini_batches,
                                              const Job* job) {
  std::vector<state::ResourceWrite> writes;
  writes.reserve(mini_batches.size() + 1);
  for (const MiniBatch& mini_batch : mini_batches) {
    writes.push_back({state::ResourceWrite::Action::kPut, ToRecord(mini_batch)});
  }
  if (job != nullptr) writes.push_back({state::ResourceWrite::Action::kUpdate, ToRecord(*job)});
  if (writes.empty()) return 0;
  ASSIGN_OR_RETURN(std::vector<state::ResourceRecord> written, store_.CommitResources(writes));
  return job != nullptr ? written.back().revision : 0;
}

}  // namespace berth::batch
