// BatchService's jobs: invocation (input and output resolution, the job record), views, lists,
// cancel, the driver log and downloads. The rest of the service is in batch_service.cc.

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "archive/tar_builder.h"
#include "batch/batch_service.h"
#include "batch/batch_service_internal.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace berth::batch {

namespace fs = std::filesystem;
using controlplane::Page;
using controlplane::PageRequest;
using controlplane::Slice;
using nlohmann::json;
using service_internal::CheckDataType;
using service_internal::DataRead;
using service_internal::HoldsFiles;
using service_internal::IsoTime;
using service_internal::kNoDefaultDeployment;
using service_internal::ParseDataRecord;
using service_internal::SplitToken;
using service_internal::ValidateJobName;
using state::ResourceRecord;

json BatchService::JobView(const Job& job) const {
  const std::optional<LiveProgress> live = runner_.Live(job.name);
  const int64_t running = live ? live->mini_batches_running : 0;
  const JobCounts& c = job.counts;
  const int64_t pending = std::max<int64_t>(
      0, c.mini_batches_total - c.mini_batches_succeeded - c.mini_batches_failed - running);
  json errors = json::array();
  for (const AttemptError& e : job.errors) {
    errors.push_back({{"mini_batch", e.mini_batch},
                      {"files", e.files},
                      {"attempt", e.attempt},
                      {"message", e.message}});
  }
  return {
      {"name", job.name},
      {"type", "batch"},
      {"status", core::JobStatusName(job.status)},
      {"endpoint_name", job.endpoint},
      {"deployment_name", job.deployment},
      {"compute", job.compute},
      {"priority", core::JobPriorityName(job.priority)},
      {"experiment_name", job.experiment_name},
      {"description", job.description},
      {"tags", job.tags},
      {"inputs",
       {{"input_data", {{"type", core::DataTypeName(job.input.type)}, {"path", job.input.path}}}}},
      {"outputs", {{"score", {{"type", "uri_folder"}, {"path", job.output_uri + "/"}}}}},
      {"settings", core::ToJson(job.settings)},
      {"progress",
       {{"mini_batches",
         {{"total", c.mini_batches_total},
          {"succeeded", c.mini_batches_succeeded},
          {"failed", c.mini_batches_failed},
          {"running", running},
          {"pending", pending}}},
        {"items",
         {{"total", c.items_total}, {"succeeded", c.items_succeeded}, {"failed", c.items_failed}}},
        {"workers", live ? live->workers : 0},
        {"items_per_second", live ? live->items_per_second : 0.0},
        {"eta_seconds", live ? live->eta_seconds : -1.0}}},
      {"errors", std::move(errors)},
      {"error", job.error},
      {"created_at", IsoTime(job.created_at_ms)},
      {"started_at", IsoTime(job.started_at_ms)},
      {"ended_at", IsoTime(job.ended_at_ms)},
      {"log_folder", PathsOf(jobs_root_, job.name).root.string()},
  };
}

// ----------------------------------------------------------------------------------- jobs

absl::StatusOr<fs::path> BatchService::ResolveInput(const core::JobInput& input) {
  constexpr std::string_view kField = "input.path";
  fs::path host;
  if (input.artifact) {
    core::DataAsset uploaded;
    uploaded.path = input.path;
    uploaded.artifact = input.artifact;
    ASSIGN_OR_RETURN(host, DataHostPath(uploaded, kField));
  } else if (core::IsDatastoreUri(input.path)) {
    ASSIGN_OR_RETURN(host, DatastoreHostPath(input.path, kField));
    std::error_code ec;
    if (!fs::exists(host, ec)) {
      return WithTarget(absl::NotFoundError("'" + input.path + "' does not exist"), kField);
    }
  } else if (absl::StartsWith(input.path, "azureml:")) {
    ASSIGN_OR_RETURN(core::AssetReference reference, core::ParseDataReference(input.path, kField));
    auto record =
        FindData(reference.name, reference.version.empty() ? "latest" : reference.version);
    if (absl::IsNotFound(record.status())) {
      return WithTarget(record.status(), kField);
    }
    if (!record.ok()) return record.status();
    ASSIGN_OR_RETURN(DataRead data, ParseDataRecord(*record));
    ASSIGN_OR_RETURN(host, DataHostPath(data.asset, kField));
  } else {
    return InvalidField(kField,
                        "'" + input.path +
                            "' is neither a data asset (azureml:<name>:<version>, "
                            "azureml:<name>@latest), a datastore path "
                            "(azureml://datastores/<store>/paths/<path>) nor an uploaded local "
                            "path");
  }
  RETURN_IF_ERROR(CheckDataType(host, input.type, input.path, "input.type"));
  return host;
}

absl::StatusOr<Job> BatchService::PrepareJob(const std::string& endpoint, const json& body,
                                             const std::string& deployment_header) {
  ASSIGN_OR_RETURN(EndpointRead endpoint_read, ReadEndpoint(endpoint));
  ASSIGN_OR_RETURN(core::JobRequest request, core::ParseJobRequest(body, deployment_header));
  std::string deployment_name =
      request.deployment.empty() ? endpoint_read.spec.default_deployment : request.deployment;
  if (deployment_name.empty()) return InvalidField("deployment", kNoDefaultDeployment);
  auto deployment = ReadDeployment(endpoint_read.spec.name, deployment_name);
  if (absl::IsNotFound(deployment.status())) {
    return WithTarget(deployment.status(), "deployment");
  }
  if (!deployment.ok()) return deployment.status();
  core::BatchDeploymentSpec spec = deployment->spec;

  Job job;
  if (request.name.empty()) {
    job.name = NewJobName();
  } else {
    RETURN_IF_ERROR(ValidateJobName(request.name));
    job.name = request.name;
  }
  auto clash = jobs_.Get(job.name);
  if (clash.ok()) {
    return WithTarget(absl::AlreadyExistsError("job '" + job.name + "' already exists"), "name");
  }
  if (!absl::IsNotFound(clash.status())) return clash.status();

  ASSIGN_OR_RETURN(fs::path input_host, ResolveInput(request.input));

  core::DatastorePath output;
  fs::path output_host;
  if (!request.output_path.empty()) {
    if (!core::IsDatastoreUri(request.output_path)) {
      return InvalidField("output_path", "'" + request.output_path +
                                             "' must be a datastore path "
                                             "(azureml://datastores/<store>/paths/<path>)");
    }
    ASSIGN_OR_RETURN(output_host, DatastoreHostPath(request.output_path, "output_path", &output));
  } else {
    output = {kDefaultDatastore, "azureml/" + job.name + "/score"};
    output_host = DatastoreRoot(output.datastore) / output.path;
  }
  std::error_code ec;
  if (fs::exists(output_host, ec)) {
    if (!fs::is_directory(output_host, ec)) {
      return InvalidField("output_path", "'" + core::DatastoreUri(output) + "' is a file");
    }
    if (HoldsFiles(output_host)) {
      return InvalidField("output_path", "'" + core::DatastoreUri(output) +
                                             "' already holds files; give a new folder");
    }
    // An empty folder may still be another job's output, claimed before it wrote anything.
    ASSIGN_OR_RETURN(std::vector<Job> others, jobs_.List());
    for (const Job& other : others) {
      if (fs::path(other.output_host_path) == output_host) {
        return InvalidField("output_path", "'" + core::DatastoreUri(output) +
                                               "' is already the output of job " + other.name +
                                               "; give a new folder");
      }
    }
  }

  job.settings = core::ApplyOverrides(spec, request.overrides);
  std::optional<core::ComputeSpec> compute;
  if (!spec.compute.empty()) {
    ASSIGN_OR_RETURN(compute, ReadCompute(spec.compute, "compute"));
    if (job.settings.instance_count > compute->max_instances) {
      return InvalidField(
          "settings.instance_count",
          absl::StrCat(job.settings.instance_count, " instances exceed compute '", compute->name,
                       "', which has at most ", compute->max_instances, " (max_instances)"));
    }
  }
  if (request.priority) {
    job.priority = *request.priority;
  } else {
    job.priority = compute && compute->tier == core::ComputeTier::kLowPriority
                       ? core::JobPriority::kLow
                       : core::JobPriority::kNormal;
  }
  if (spec.model) {
    ASSIGN_OR_RETURN(spec.model, ResolveModel(*spec.model));
  }

  job.endpoint = endpoint_read.spec.name;
  job.deployment = spec.name;
  job.status = core::JobStatus::kNotStarted;
  job.compute = spec.compute;
  // Azure: the experiment is named after the endpoint unless the request names one.
  job.experiment_name =
      request.experiment_name.empty() ? endpoint_read.spec.name : request.experiment_name;
  job.description = request.description;
  job.tags = request.tags;
  job.input = request.input;
  job.input_host_path = input_host.string();
  job.output_uri = core::DatastoreUri(output);
  job.output_host_path = output_host.string();
  job.deployment_spec = core::ToJson(spec);
  job.created_at_ms = NowMs();
  return job;
}

absl::StatusOr<json> BatchService::Invoke(const std::string& endpoint, const json& body,
                                          const std::string& deployment_header) {
  Job job;
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(job, PrepareJob(endpoint, body, deployment_header));
    // The output folder exists before the job does; if the job cannot be written, the folders
    // made here go again.
    const fs::path output = job.output_host_path;
    fs::path first_made = output;
    std::error_code ec;
    while (!first_made.parent_path().empty() && !fs::exists(first_made.parent_path(), ec)) {
      first_made = first_made.parent_path();
    }
    const bool existed = fs::exists(output, ec);
    fs::create_directories(output, ec);
    if (ec) {
      return absl::InternalError("cannot create " + output.string() + ": " + ec.message());
    }
    absl::Status created = jobs_.Create(job);
    if (!created.ok()) {
      if (!existed) fs::remove_all(first_made, ec);
      if (absl::IsAlreadyExists(created)) return WithTarget(created, "name");
      return created;
    }
  }
  runner_.Submit(job.name);
  return JobView(job);
}

absl::StatusOr<json> BatchService::GetJob(const std::string& name) {
  auto job = jobs_.Get(name);
  if (absl::IsNotFound(job.status())) return absl::NotFoundError("job '" + name + "' not found");
  if (!job.ok()) return job.status();
  return JobView(*job);
}

absl::StatusOr<Page> BatchService::ListJobs(const std::string& endpoint,
                                            const std::string& deployment,
                                            const PageRequest& request) {
  ASSIGN_OR_RETURN(std::vector<Job> all, jobs_.List());
  std::vector<Job> jobs;
  for (Job& job : all) {
    if (!endpoint.empty() && !core::SameName(job.endpoint, endpoint)) continue;
    if (!deployment.empty() && !core::SameName(job.deployment, deployment)) continue;
    jobs.push_back(std::move(job));
  }
  // Newest first, then by name: the token is the last job's "<created_at_ms>/<name>".
  const auto [token_ms_text, token_name] = SplitToken(request.skip_token);
  int64_t token_ms = 0;
  if (!request.skip_token.empty() && !absl::SimpleAtoi(token_ms_text, &token_ms)) {
    return InvalidField("$skiptoken", "not a token this list gave");
  }
  Slice<Job> slice = controlplane::PageOf(jobs, request, [&](const Job& job) {
    return job.created_at_ms < token_ms || (job.created_at_ms == token_ms && job.name > token_name);
  });
  Page page;
  for (const Job& job : slice.items) page.value.push_back(JobView(job));
  if (slice.more) {
    page.next_token = absl::StrCat(slice.items.back().created_at_ms, "/", slice.items.back().name);
  }
  return page;
}

absl::StatusOr<Page> BatchService::ListEndpointJobs(const std::string& endpoint,
                                                    const std::string& deployment,
                                                    const PageRequest& request) {
  ASSIGN_OR_RETURN(EndpointRead endpoint_read, ReadEndpoint(endpoint));
  if (!deployment.empty()) {
    RETURN_IF_ERROR(ReadDeployment(endpoint_read.spec.name, deployment).status());
  }
  return ListJobs(endpoint_read.spec.name, deployment, request);
}

absl::StatusOr<json> BatchService::CancelJob(const std::string& name) {
  RETURN_IF_ERROR(GetJob(name).status());
  RETURN_IF_ERROR(runner_.Cancel(name));
  return GetJob(name);
}

absl::StatusOr<json> BatchService::JobLog(const std::string& name, int64_t offset) {
  if (offset < 0) return InvalidField("offset", "must be 0 or more");
  ASSIGN_OR_RETURN(json view, GetJob(name));
  const fs::path log = PathsOf(jobs_root_, name).driver_log();
  std::string text;
  std::ifstream in(log, std::ios::binary);
  if (in) {
    in.seekg(0, std::ios::end);
    const int64_t size = static_cast<int64_t>(in.tellg());
    offset = std::min(offset, size);
    const int64_t length = std::min(size - offset, kMaxLogChunk);
    text.resize(static_cast<size_t>(length));
    in.seekg(offset);
    in.read(text.data(), length);
    text.resize(static_cast<size_t>(in.gcount()));
    // A cut chunk ends on a whole UTF-8 character; the rest comes with the next call.
    if (length == kMaxLogChunk) {
      size_t end = text.size();
      size_t back = 0;
      while (back < 4 && back < end &&
             (static_cast<unsigned char>(text[end - 1 - back]) & 0xC0) == 0x80) {
        ++back;
      }
      if (back < end && (static_cast<unsigned char>(text[end - 1 - back]) & 0x80) != 0) {
        text.resize(end - 1 - back);
      }
    }
  } else {
    offset = 0;
  }
  const int64_t next = offset + static_cast<int64_t>(text.size());
  return json{{"offset", next}, {"text", std::move(text)}, {"job", std::move(view)}};
}

absl::StatusOr<std::string> BatchService::DownloadJob(const std::string& name,
                                                      const std::string& output, bool all) {
  auto job = jobs_.Get(name);
  if (absl::IsNotFound(job.status())) return absl::NotFoundError("job '" + name + "' not found");
  if (!job.ok()) return job.status();
  if (!output.empty() && output != "score") {
    return WithTarget(
        absl::NotFoundError("job '" + name + "' has no output '" + output + "'; it has 'score'"),
        "output");
  }
  const JobPaths paths = PathsOf(jobs_root_, name);
  archive::TarBuilder tar;
  RETURN_IF_ERROR(tar.AddTree(job->output_host_path, "named-outputs/score"));
  if (all) {
    RETURN_IF_ERROR(tar.AddTree(paths.logs(), "artifacts/logs"));
    RETURN_IF_ERROR(tar.AddTree(paths.root / "azureml-logs", "artifacts/azureml-logs"));
  }
  return tar.Finish();
}

}  // namespace berth::batch
