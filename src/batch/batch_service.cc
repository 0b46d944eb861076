#include "batch/batch_service.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::batch {
namespace {

namespace fs = std::filesystem;
using controlplane::Page;
using controlplane::PageRequest;
using controlplane::Slice;
using nlohmann::json;
using state::ResourceRecord;
using state::ResourceWrite;

// One page of `records` (sorted by key; the page token is the last key served), each shown
// through `view`, which may fail (an unreadable record).
template <typename View>
absl::StatusOr<Page> PageOfRecords(const std::vector<ResourceRecord>& records,
                                   const PageRequest& request, View view) {
  Slice<ResourceRecord> slice = controlplane::PageOf(
      records, request, [&](const ResourceRecord& r) { return r.key > request.skip_token; });
  Page page;
  for (const ResourceRecord& record : slice.items) {
    ASSIGN_OR_RETURN(json shown, view(record));
    page.value.push_back(std::move(shown));
  }
  if (slice.more) page.next_token = slice.items.back().key;
  return page;
}

constexpr char kNoDefaultDeployment[] =
    "No valid deployments to route to. Please check that the endpoint has at least one "
    "deployment with positive weight values or use a deployment specific header to route.";

std::string Lower(std::string_view name) { return absl::AsciiStrToLower(std::string(name)); }

std::string IsoTime(int64_t ms) {
  if (ms == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

std::string DeploymentPrefix(const std::string& endpoint) { return Lower(endpoint) + "/"; }
std::string DeploymentKey(const std::string& endpoint, const std::string& name) {
  return DeploymentPrefix(endpoint) + Lower(name);
}
std::string DataKey(const std::string& name, const std::string& version) {
  return name + "/" + version;
}

absl::Status CheckDocumentName(const json& doc, const std::string& field, const std::string& name) {
  if (!doc.is_object()) return InvalidField("", "the document must be a JSON object");
  auto it = doc.find(field);
  if (it != doc.end() && !it->is_null() &&
      !(it->is_string() && core::SameName(it->get<std::string>(), name))) {
    return InvalidField(field, "'" + (it->is_string() ? it->get<std::string>() : it->dump()) +
                                   "' does not match '" + name + "' named by the request");
  }
  return absl::OkStatus();
}

std::string DocName(const ResourceRecord& record) {
  auto it = record.doc.find("name");
  return it != record.doc.end() && it->is_string() ? it->get<std::string>() : record.key;
}

bool IsInteger(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

// Data asset order: by name, then integer versions numerically, then the others byte-wise.
bool DataLess(const std::string& name_a, const std::string& version_a, const std::string& name_b,
              const std::string& version_b) {
  if (name_a != name_b) return name_a < name_b;
  bool int_a = IsInteger(version_a), int_b = IsInteger(version_b);
  if (int_a != int_b) return int_a;
  if (int_a) {
    std::string_view a = version_a, b = version_b;
    a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
    b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
    if (a.size() != b.size()) return a.size() < b.size();
    if (a != b) return a < b;
  }
  return version_a < version_b;
}

std::pair<std::string, std::string> SplitToken(std::string_view token) {
  size_t slash = token.find('/');
  if (slash == std::string_view::npos) return {std::string(token), ""};
  return {std::string(token.substr(0, slash)), std::string(token.substr(slash + 1))};
}

// Azure's job names: letters, digits, '-' and '_', starting with a letter or digit.
absl::Status ValidateJobName(const std::string& name) {
  if (name.size() > 255) return InvalidField("name", "a job name has at most 255 characters");
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return InvalidField("name", "'" + name + "' must start with a letter or a digit");
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return InvalidField("name", "'" + name + "' may hold only letters, digits, '-' and '_'");
    }
  }
  return absl::OkStatus();
}

// Whether `folder` holds a file anywhere below it.
bool HoldsFiles(const fs::path& folder) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) return true;
  }
  return false;
}

// Builds a pax tar in memory.
class TarBuilder {
 public:
  TarBuilder() : archive_(archive_write_new(), archive_write_free) {
    archive_write_set_format_pax_restricted(archive_.get());
    archive_write_set_bytes_in_last_block(archive_.get(), 1);
    archive_write_open(archive_.get(), &out_, nullptr, &Append, nullptr);
  }

  // Adds every file below `root` (sorted) as `prefix`/<relative path>; nothing when absent.
  absl::Status AddTree(const fs::path& root, const std::string& prefix) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
      RETURN_IF_ERROR(AddFile(file, prefix + "/" + file.lexically_relative(root).string()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> Finish() {
    if (archive_write_close(archive_.get()) != ARCHIVE_OK) {
      return absl::InternalError(std::string("cannot finish the tar: ") +
                                 archive_error_string(archive_.get()));
    }
    return std::move(out_);
  }

 private:
  static la_ssize_t Append(archive*, void* client, const void* buffer, size_t length) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
    return static_cast<la_ssize_t>(length);
  }

  absl::Status AddFile(const fs::path& file, const std::string& name) {
    std::ifstream in(file, std::ios::binary);
    std::error_code ec;
    const uintmax_t size = fs::file_size(file, ec);
    if (!in || ec) return absl::InternalError("cannot read " + file.string());
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
    if (archive_write_header(archive_.get(), entry.get()) != ARCHIVE_OK) {
      return absl::InternalError("cannot add " + name +
                                 " to the tar: " + archive_error_string(archive_.get()));
    }
    // Exactly `size` bytes, even if the file grows meanwhile (a running job's log).
    std::string block(64 * 1024, '\0');
    uintmax_t left = size;
    while (left > 0 && in) {
      in.read(block.data(), static_cast<std::streamsize>(std::min<uintmax_t>(left, block.size())));
      const std::streamsize got = in.gcount();
      if (got <= 0) break;
      archive_write_data(archive_.get(), block.data(), static_cast<size_t>(got));
      left -= static_cast<uintmax_t>(got);
    }
    return absl::OkStatus();
  }

  std::string out_;
  std::unique_ptr<archive, decltype(&archive_write_free)> archive_;
};

}  // namespace

BatchService::BatchService(state::StateStore& store, controlplane::ArtifactStore& artifacts,
                           controlplane::ModelRegistry* models, const Clock& clock,
                           RandomSource& random, JobRunner& runner, BatchServiceOptions options)
    : store_(store),
      artifacts_(artifacts),
      models_(models),
      clock_(clock),
      random_(random),
      runner_(runner),
      options_(std::move(options)),
      datastores_root_(options_.data_dir / "datastores"),
      jobs_root_(options_.data_dir / "jobs"),
      jobs_(store) {}

absl::Status BatchService::Init() {
  for (const fs::path& folder : {DatastoreRoot(kDefaultDatastore), jobs_root_}) {
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) return absl::InternalError("cannot create " + folder.string() + ": " + ec.message());
  }
  return absl::OkStatus();
}

fs::path BatchService::DatastoreRoot(const std::string& datastore) const {
  return datastores_root_ / datastore;
}

int64_t BatchService::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch())
      .count();
}

std::string BatchService::NewJobName() {
  const uint64_t a = random_.Next();
  const uint64_t b = random_.Next();
  char id[48];
  std::snprintf(id, sizeof(id), "%08llx-%04llx-4%03llx-%04llx-%012llx",
                static_cast<unsigned long long>(a >> 32),
                static_cast<unsigned long long>((a >> 16) & 0xffff),
                static_cast<unsigned long long>(a & 0xfff),
                static_cast<unsigned long long>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return std::string("batchjob-") + id;
}

// ---------------------------------------------------------------------------------- reads

absl::StatusOr<BatchService::EndpointRead> BatchService::ReadEndpoint(const std::string& name) {
  auto record = store_.GetResource(state::kResourceBatchEndpoint, Lower(name));
  if (absl::IsNotFound(record.status())) {
    return absl::NotFoundError("batch endpoint '" + name + "' not found");
  }
  if (!record.ok()) return record.status();
  ASSIGN_OR_RETURN(auto parsed, core::ParseBatchEndpointSpec(record->doc));
  return EndpointRead{*std::move(record), std::move(parsed.spec)};
}

absl::StatusOr<BatchService::DeploymentRead> BatchService::ReadDeployment(
    const std::string& endpoint, const std::string& name) {
  auto record = store_.GetResource(state::kResourceBatchDeployment, DeploymentKey(endpoint, name));
  if (absl::IsNotFound(record.status())) {
    return absl::NotFoundError("batch deployment '" + name + "' not found in batch endpoint '" +
                               endpoint + "'");
  }
  if (!record.ok()) return record.status();
  ASSIGN_OR_RETURN(auto parsed, core::ParseBatchDeploymentSpec(record->doc));
  return DeploymentRead{*std::move(record), std::move(parsed.spec)};
}

absl::StatusOr<std::vector<BatchService::DeploymentRead>> BatchService::ReadDeployments(
    const std::string& endpoint) {
  ASSIGN_OR_RETURN(
      std::vector<ResourceRecord> records,
      store_.ListResources(state::kResourceBatchDeployment,
                           endpoint.empty() ? std::string() : DeploymentPrefix(endpoint)));
  std::vector<DeploymentRead> deployments;
  for (ResourceRecord& record : records) {
    ASSIGN_OR_RETURN(auto parsed, core::ParseBatchDeploymentSpec(record.doc));
    deployments.push_back({std::move(record), std::move(parsed.spec)});
  }
  return deployments;
}

absl::StatusOr<core::ComputeSpec> BatchService::ReadCompute(const std::string& name,
                                                            std::string_view field) {
  auto record = store_.GetResource(state::kResourceCompute, Lower(name));
  if (absl::IsNotFound(record.status())) {
    return WithTarget(absl::NotFoundError("compute '" + name +
                                          "' not found; create it first (berth compute create)"),
                      field);
  }
  if (!record.ok()) return record.status();
  ASSIGN_OR_RETURN(auto parsed, core::ParseComputeSpec(record->doc));
  return std::move(parsed.spec);
}

absl::StatusOr<core::ModelSpec> BatchService::ResolveModel(const core::ModelSpec& model) {
  if (model.reference.empty()) return model;
  if (models_ == nullptr) {
    return WithTarget(absl::FailedPreconditionError("this server has no model registry"), "model");
  }
  return models_->Resolve(model);
}

// ---------------------------------------------------------------------------------- views

json BatchService::EndpointView(const ResourceRecord& record,
                                const core::BatchEndpointSpec& spec) const {
  json view = core::ToJson(spec);
  view["provisioning_state"] = "Succeeded";
  view["scoring_uri"] = options_.base_url + "/batch-endpoints/" + spec.name + "/jobs";
  view["created_at"] = IsoTime(record.created_at_ms);
  view["updated_at"] = IsoTime(record.updated_at_ms);
  return view;
}

json BatchService::DeploymentView(const ResourceRecord& record,
                                  const core::BatchDeploymentSpec& spec) const {
  json view = core::ToJson(spec);
  view["provisioning_state"] = "Succeeded";
  view["created_at"] = IsoTime(record.created_at_ms);
  view["updated_at"] = IsoTime(record.updated_at_ms);
  return view;
}

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

// ------------------------------------------------------------------------------ endpoints

absl::StatusOr<Page> BatchService::ListEndpoints(const PageRequest& request) {
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> records,
                   store_.ListResources(state::kResourceBatchEndpoint, ""));
  return PageOfRecords(records, request, [&](const ResourceRecord& record) -> absl::StatusOr<json> {
    ASSIGN_OR_RETURN(auto parsed, core::ParseBatchEndpointSpec(record.doc));
    return EndpointView(record, parsed.spec);
  });
}

absl::StatusOr<json> BatchService::GetEndpoint(const std::string& name) {
  ASSIGN_OR_RETURN(EndpointRead endpoint, ReadEndpoint(name));
  return EndpointView(endpoint.record, endpoint.spec);
}

absl::StatusOr<BatchService::Written> BatchService::ApplyEndpoint(const std::string& name,
                                                                  const json& doc,
                                                                  bool allow_create) {
  RETURN_IF_ERROR(CheckDocumentName(doc, "name", name));
  absl::MutexLock lock(&write_mu_);
  auto existing = store_.GetResource(state::kResourceBatchEndpoint, Lower(name));
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (!existing.ok() && !allow_create) {
    return absl::NotFoundError("batch endpoint '" + name + "' not found");
  }
  const std::string stored_name = existing.ok() ? DocName(*existing) : name;
  json merged = existing.ok() ? core::MergeSpec(existing->doc, doc) : doc;
  merged["name"] = stored_name;
  ASSIGN_OR_RETURN(auto parsed, core::ParseBatchEndpointSpec(merged));
  if (!parsed.spec.default_deployment.empty()) {
    auto deployment =
        store_.GetResource(state::kResourceBatchDeployment,
                           DeploymentKey(stored_name, parsed.spec.default_deployment));
    if (absl::IsNotFound(deployment.status())) {
      return WithTarget(
          absl::NotFoundError("deployment '" + parsed.spec.default_deployment +
                              "' does not exist in batch endpoint '" + stored_name + "'"),
          "defaults.deployment_name");
    }
    if (!deployment.ok()) return deployment.status();
    // Stored as the deployment spells it.
    parsed.spec.default_deployment = DocName(*deployment);
    merged["defaults"]["deployment_name"] = parsed.spec.default_deployment;
  }
  ResourceRecord record = existing.ok() ? *existing : ResourceRecord{};
  record.kind = state::kResourceBatchEndpoint;
  record.key = Lower(stored_name);
  record.doc = merged;
  record.updated_at_ms = NowMs();
  if (!existing.ok()) record.created_at_ms = record.updated_at_ms;
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> written,
                   store_.CommitResources({{existing.ok() ? ResourceWrite::Action::kUpdate
                                                          : ResourceWrite::Action::kCreate,
                                            record}}));
  return Written{EndpointView(written.front(), parsed.spec), !existing.ok()};
}

absl::StatusOr<json> BatchService::DeleteEndpoint(const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(EndpointRead endpoint, ReadEndpoint(name));
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> deployments,
                   store_.ListResources(state::kResourceBatchDeployment, DeploymentPrefix(name)));
  // All or none, each on the revision read.
  std::vector<ResourceWrite> writes;
  for (ResourceRecord& d : deployments) writes.push_back({ResourceWrite::Action::kDelete, d});
  writes.push_back({ResourceWrite::Action::kDelete, endpoint.record});
  RETURN_IF_ERROR(store_.CommitResources(writes).status());
  return EndpointView(endpoint.record, endpoint.spec);
}

// ---------------------------------------------------------------------------- deployments

absl::StatusOr<Page> BatchService::ListDeployments(const std::string& endpoint,
                                                   const PageRequest& request) {
  RETURN_IF_ERROR(ReadEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(std::vector<DeploymentRead> deployments, ReadDeployments(endpoint));
  const std::string after = DeploymentPrefix(endpoint) + request.skip_token;
  Slice<DeploymentRead> slice = controlplane::PageOf(
      deployments, request, [&](const DeploymentRead& d) { return d.record.key > after; });
  Page page;
  for (const DeploymentRead& d : slice.items)
    page.value.push_back(DeploymentView(d.record, d.spec));
  if (slice.more) page.next_token = Lower(slice.items.back().spec.name);
  return page;
}

absl::StatusOr<json> BatchService::GetDeployment(const std::string& endpoint,
                                                 const std::string& name) {
  RETURN_IF_ERROR(ReadEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(DeploymentRead deployment, ReadDeployment(endpoint, name));
  return DeploymentView(deployment.record, deployment.spec);
}

absl::StatusOr<BatchService::Written> BatchService::ApplyDeployment(const std::string& endpoint,
                                                                    const std::string& name,
                                                                    const json& doc,
                                                                    bool allow_create,
                                                                    bool set_default) {
  RETURN_IF_ERROR(CheckDocumentName(doc, "name", name));
  RETURN_IF_ERROR(CheckDocumentName(doc, "endpoint_name", endpoint));
  absl::MutexLock lock(&write_mu_);
  auto endpoint_read = ReadEndpoint(endpoint);
  if (absl::IsNotFound(endpoint_read.status())) {
    return WithTarget(absl::NotFoundError("batch endpoint '" + endpoint +
                                          "' not found; create the endpoint first"),
                      "endpoint_name");
  }
  if (!endpoint_read.ok()) return endpoint_read.status();
  const std::string endpoint_name = endpoint_read->spec.name;
  auto existing =
      store_.GetResource(state::kResourceBatchDeployment, DeploymentKey(endpoint_name, name));
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (!existing.ok() && !allow_create) {
    return absl::NotFoundError("batch deployment '" + name + "' not found in batch endpoint '" +
                               endpoint_name + "'");
  }
  const std::string stored_name = existing.ok() ? DocName(*existing) : name;
  ASSIGN_OR_RETURN(json update, core::NormalizeBatchDeploymentDocument(doc));
  json merged = existing.ok() ? core::MergeSpec(existing->doc, update) : update;
  merged["name"] = stored_name;
  merged["endpoint_name"] = endpoint_name;
  ASSIGN_OR_RETURN(auto parsed, core::ParseBatchDeploymentSpec(merged));

  if (!parsed.spec.compute.empty()) {
    ASSIGN_OR_RETURN(core::ComputeSpec compute, ReadCompute(parsed.spec.compute, "compute"));
    if (parsed.spec.instance_count > compute.max_instances) {
      return InvalidField(
          "resources.instance_count",
          absl::StrCat(parsed.spec.instance_count, " instances exceed compute '", compute.name,
                       "', which has at most ", compute.max_instances, " (max_instances)"));
    }
  }
  RETURN_IF_ERROR(
      controlplane::CheckDeploymentArtifacts(artifacts_, core::WorkerDeploymentSpec(parsed.spec)));
  if (parsed.spec.model && !parsed.spec.model->reference.empty()) {
    ASSIGN_OR_RETURN(core::ModelSpec model, ResolveModel(*parsed.spec.model));
    // As for online deployments: the version `@latest` meant now is recorded.
    if (model.reference != parsed.spec.model->reference) {
      merged["model"] = model.reference;
      ASSIGN_OR_RETURN(parsed, core::ParseBatchDeploymentSpec(merged));
    }
  }

  ResourceRecord record = existing.ok() ? *existing : ResourceRecord{};
  record.kind = state::kResourceBatchDeployment;
  record.key = DeploymentKey(endpoint_name, stored_name);
  record.doc = merged;
  record.updated_at_ms = NowMs();
  if (!existing.ok()) record.created_at_ms = record.updated_at_ms;
  std::vector<ResourceWrite> writes = {
      {existing.ok() ? ResourceWrite::Action::kUpdate : ResourceWrite::Action::kCreate, record}};
  if (set_default) {
    ResourceRecord endpoint_record = endpoint_read->record;
    endpoint_record.doc["defaults"]["deployment_name"] = stored_name;
    endpoint_record.updated_at_ms = record.updated_at_ms;
    writes.push_back({ResourceWrite::Action::kUpdate, std::move(endpoint_record)});
  }
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> written, store_.CommitResources(writes));
  return Written{DeploymentView(written.front(), parsed.spec), !existing.ok()};
}

absl::StatusOr<json> BatchService::DeleteDeployment(const std::string& endpoint,
                                                    const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(EndpointRead endpoint_read, ReadEndpoint(endpoint));
  ASSIGN_OR_RETURN(DeploymentRead deployment, ReadDeployment(endpoint, name));
  const std::string& stored = deployment.spec.name;
  std::vector<ResourceWrite> writes;
  if (core::SameName(endpoint_read.spec.default_deployment, stored)) {
    ASSIGN_OR_RETURN(
        std::vector<ResourceRecord> all,
        store_.ListResources(state::kResourceBatchDeployment, DeploymentPrefix(endpoint)));
    if (all.size() > 1) {
      return WithTarget(
          absl::FailedPreconditionError(
              "deployment '" + stored + "' is the default deployment of batch endpoint '" +
              endpoint_read.spec.name +
              "'; make another deployment the default first (set defaults.deployment_name)"),
          "defaults.deployment_name");
    }
    // The only deployment goes: the endpoint is left without a default.
    ResourceRecord endpoint_record = endpoint_read.record;
    endpoint_record.doc["defaults"].erase("deployment_name");
    if (endpoint_record.doc["defaults"].empty()) endpoint_record.doc.erase("defaults");
    endpoint_record.updated_at_ms = NowMs();
    writes.push_back({ResourceWrite::Action::kUpdate, std::move(endpoint_record)});
  }
  ASSIGN_OR_RETURN(std::vector<Job> jobs, jobs_.List());
  for (const Job& job : jobs) {
    if (core::SameName(job.endpoint, endpoint_read.spec.name) &&
        core::SameName(job.deployment, stored) && !core::IsTerminal(job.status)) {
      return absl::FailedPreconditionError("job '" + job.name + "' of deployment '" + stored +
                                           "' is " + core::JobStatusName(job.status) +
                                           "; cancel it or wait for it to end first");
    }
  }
  writes.push_back({ResourceWrite::Action::kDelete, deployment.record});
  RETURN_IF_ERROR(store_.CommitResources(writes).status());
  return DeploymentView(deployment.record, deployment.spec);
}

// ------------------------------------------------------------------------------- computes

namespace {

json ComputeView(const ResourceRecord& record, const core::ComputeSpec& spec) {
  json view = core::ToJson(spec);
  view["provisioning_state"] = "Succeeded";
  view["created_at"] = IsoTime(record.created_at_ms);
  view["updated_at"] = IsoTime(record.updated_at_ms);
  return view;
}

}  // namespace

absl::StatusOr<Page> BatchService::ListComputes(const PageRequest& request) {
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> records,
                   store_.ListResources(state::kResourceCompute, ""));
  return PageOfRecords(records, request, [&](const ResourceRecord& record) -> absl::StatusOr<json> {
    ASSIGN_OR_RETURN(auto parsed, core::ParseComputeSpec(record.doc));
    return ComputeView(record, parsed.spec);
  });
}

absl::StatusOr<json> BatchService::GetCompute(const std::string& name) {
  auto record = store_.GetResource(state::kResourceCompute, Lower(name));
  if (absl::IsNotFound(record.status())) {
    return absl::NotFoundError("compute '" + name + "' not found");
  }
  if (!record.ok()) return record.status();
  ASSIGN_OR_RETURN(auto parsed, core::ParseComputeSpec(record->doc));
  return ComputeView(*record, parsed.spec);
}

absl::StatusOr<BatchService::Written> BatchService::PutCompute(const std::string& name,
                                                               const json& doc) {
  RETURN_IF_ERROR(CheckDocumentName(doc, "name", name));
  absl::MutexLock lock(&write_mu_);
  auto existing = store_.GetResource(state::kResourceCompute, Lower(name));
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  json replacement = doc;
  replacement["name"] = existing.ok() ? DocName(*existing) : name;
  ASSIGN_OR_RETURN(auto parsed, core::ParseComputeSpec(replacement));
  if (existing.ok()) {
    // A smaller cluster must still hold every deployment that names it.
    ASSIGN_OR_RETURN(std::vector<DeploymentRead> deployments, ReadDeployments(""));
    for (const DeploymentRead& d : deployments) {
      if (core::SameName(d.spec.compute, name) &&
          d.spec.instance_count > parsed.spec.max_instances) {
        return InvalidField(
            "max_instances",
            absl::StrCat("batch deployment '", d.spec.endpoint_name, "/", d.spec.name, "' needs ",
                         d.spec.instance_count, " instances of compute '", parsed.spec.name, "'"));
      }
    }
  }
  ResourceRecord record = existing.ok() ? *existing : ResourceRecord{};
  record.kind = state::kResourceCompute;
  record.key = Lower(parsed.spec.name);
  record.doc = replacement;
  record.updated_at_ms = NowMs();
  if (!existing.ok()) record.created_at_ms = record.updated_at_ms;
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> written,
                   store_.CommitResources({{existing.ok() ? ResourceWrite::Action::kUpdate
                                                          : ResourceWrite::Action::kCreate,
                                            record}}));
  return Written{ComputeView(written.front(), parsed.spec), !existing.ok()};
}

absl::StatusOr<json> BatchService::DeleteCompute(const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  auto record = store_.GetResource(state::kResourceCompute, Lower(name));
  if (absl::IsNotFound(record.status())) {
    return absl::NotFoundError("compute '" + name + "' not found");
  }
  if (!record.ok()) return record.status();
  ASSIGN_OR_RETURN(auto parsed, core::ParseComputeSpec(record->doc));
  ASSIGN_OR_RETURN(std::vector<DeploymentRead> deployments, ReadDeployments(""));
  for (const DeploymentRead& d : deployments) {
    if (core::SameName(d.spec.compute, name)) {
      return absl::FailedPreconditionError(
          "compute '" + parsed.spec.name + "' is used by batch deployment '" +
          d.spec.endpoint_name + "/" + d.spec.name + "'; delete the deployment first");
    }
  }
  RETURN_IF_ERROR(store_.CommitResources({{ResourceWrite::Action::kDelete, *record}}).status());
  return ComputeView(*record, parsed.spec);
}

// ---------------------------------------------------------------------------- data assets

namespace {

struct DataRead {
  ResourceRecord record;
  core::DataAsset asset;
};

absl::StatusOr<DataRead> ParseDataRecord(const ResourceRecord& record) {
  json doc = record.doc;
  const bool archived = doc.value("archived", false);
  doc.erase("archived");
  ASSIGN_OR_RETURN(core::DataAsset asset, core::ParseDataAsset(doc));
  asset.archived = archived;
  return DataRead{record, std::move(asset)};
}

json DataView(const DataRead& data) {
  json view = core::ToJson(data.asset);
  view["archived"] = data.asset.archived;
  view["created_at"] = IsoTime(data.record.created_at_ms);
  return view;
}

// "'<path>' is a folder; use type uri_folder" when the kind on disk is not `type`.
absl::Status CheckDataType(const fs::path& host, core::DataType type, std::string_view shown,
                           std::string_view field) {
  std::error_code ec;
  const bool folder = fs::is_directory(host, ec);
  if (type == core::DataType::kUriFile && folder) {
    return InvalidField(field, "'" + std::string(shown) + "' is a folder; use type uri_folder");
  }
  if (type == core::DataType::kUriFolder && !folder) {
    return InvalidField(field, "'" + std::string(shown) + "' is a file; use type uri_file");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<fs::path> BatchService::DatastoreHostPath(const std::string& uri,
                                                         std::string_view field,
                                                         core::DatastorePath* parsed) {
  ASSIGN_OR_RETURN(core::DatastorePath path, core::ParseDatastorePath(uri, field));
  const fs::path root = DatastoreRoot(path.datastore);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return WithTarget(
        absl::NotFoundError(
            absl::StrCat("datastore '", path.datastore,
                         "' does not exist (a datastore is a folder under <data-dir>/datastores)")),
        field);
  }
  fs::path host = path.path.empty() ? root : root / path.path;
  if (parsed != nullptr) *parsed = std::move(path);
  return host;
}

absl::StatusOr<fs::path> BatchService::DataHostPath(const core::DataAsset& asset,
                                                    std::string_view field) {
  if (asset.artifact) {
    if (!artifacts_.Has(asset.artifact->digest)) {
      return WithTarget(absl::NotFoundError(absl::StrCat(
                            "the files of '", asset.path, "' (", asset.artifact->digest,
                            ") are not uploaded; PUT them to /api/v1/artifacts first")),
                        field);
    }
    const fs::path root = artifacts_.PathOf(asset.artifact->digest);
    // A folder is extracted as the folder itself; a file as the one entry `base_name`.
    return asset.artifact->is_file ? root / asset.artifact->base_name : root;
  }
  ASSIGN_OR_RETURN(fs::path host, DatastoreHostPath(asset.path, field));
  std::error_code ec;
  if (!fs::exists(host, ec)) {
    return WithTarget(absl::NotFoundError(absl::StrCat("'", asset.path, "' does not exist")),
                      field);
  }
  return host;
}

absl::StatusOr<ResourceRecord> BatchService::FindData(const std::string& name,
                                                      const std::string& version) {
  if (absl::AsciiStrToLower(version) != "latest") {
    auto record = store_.GetResource(state::kResourceData, DataKey(name, version));
    if (absl::IsNotFound(record.status())) {
      return absl::NotFoundError("data asset '" + name + "' version '" + version + "' not found");
    }
    return record;
  }
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> records,
                   store_.ListResources(state::kResourceData, name + "/"));
  const ResourceRecord* newest = nullptr;
  for (const ResourceRecord& record : records) {
    if (record.doc.value("archived", false)) continue;
    if (newest == nullptr || record.created_at_ms >= newest->created_at_ms) newest = &record;
  }
  if (newest == nullptr) {
    return absl::NotFoundError("data asset '" + name + "' has no version that is not archived");
  }
  return *newest;
}

absl::StatusOr<Page> BatchService::ListData(const std::string& name, const PageRequest& request) {
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> records,
                   store_.ListResources(state::kResourceData, name.empty() ? "" : name + "/"));
  std::vector<DataRead> assets;
  for (const ResourceRecord& record : records) {
    ASSIGN_OR_RETURN(DataRead data, ParseDataRecord(record));
    assets.push_back(std::move(data));
  }
  std::sort(assets.begin(), assets.end(), [](const DataRead& a, const DataRead& b) {
    return DataLess(a.asset.name, a.asset.version, b.asset.name, b.asset.version);
  });
  const auto [token_name, token_version] = SplitToken(request.skip_token);
  Slice<DataRead> slice = controlplane::PageOf(assets, request, [&](const DataRead& d) {
    return DataLess(token_name, token_version, d.asset.name, d.asset.version);
  });
  Page page;
  for (const DataRead& d : slice.items) page.value.push_back(DataView(d));
  if (slice.more) {
    page.next_token = DataKey(slice.items.back().asset.name, slice.items.back().asset.version);
  }
  return page;
}

absl::StatusOr<json> BatchService::GetData(const std::string& name, const std::string& version) {
  ASSIGN_OR_RETURN(ResourceRecord record, FindData(name, version));
  ASSIGN_OR_RETURN(DataRead data, ParseDataRecord(record));
  return DataView(data);
}

absl::StatusOr<json> BatchService::CreateData(const json& doc) {
  if (doc.is_object() && doc.contains("archived")) {
    return InvalidField("archived", "is set by archiving a version, not on create");
  }
  ASSIGN_OR_RETURN(core::DataAsset asset, core::ParseDataAsset(doc));
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(fs::path host, DataHostPath(asset, asset.artifact ? "artifact" : "path"));
  RETURN_IF_ERROR(CheckDataType(host, asset.type, asset.path, "type"));
  if (asset.version.empty()) {
    ASSIGN_OR_RETURN(std::vector<ResourceRecord> versions,
                     store_.ListResources(state::kResourceData, asset.name + "/"));
    uint64_t highest = 0;
    for (const ResourceRecord& record : versions) {
      const std::string version = record.key.substr(asset.name.size() + 1);
      uint64_t number = 0;
      if (IsInteger(version) && absl::SimpleAtoi(version, &number)) {
        highest = std::max(highest, number);
      }
    }
    asset.version = std::to_string(highest + 1);
  }
  asset.archived = false;
  ResourceRecord record;
  record.kind = state::kResourceData;
  record.key = DataKey(asset.name, asset.version);
  record.doc = core::ToJson(asset);
  record.doc["archived"] = false;
  record.created_at_ms = record.updated_at_ms = NowMs();
  auto written = store_.CommitResources({{ResourceWrite::Action::kCreate, record}});
  if (absl::IsAlreadyExists(written.status())) {
    return WithTarget(absl::AlreadyExistsError(absl::StrCat(
                          "data asset '", asset.name, "' version '", asset.version,
                          "' already exists; give another version, or none to get the next "
                          "integer")),
                      "version");
  }
  if (!written.ok()) return written.status();
  return DataView({written->front(), asset});
}

absl::StatusOr<json> BatchService::ArchiveData(const std::string& name,
                                               const std::string& version) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(ResourceRecord record, FindData(name, version));
  ASSIGN_OR_RETURN(DataRead data, ParseDataRecord(record));
  if (!data.asset.archived) {
    record.doc["archived"] = true;
    record.updated_at_ms = NowMs();
    ASSIGN_OR_RETURN(std::vector<ResourceRecord> written,
                     store_.CommitResources({{ResourceWrite::Action::kUpdate, record}}));
    data.record = written.front();
    data.asset.archived = true;
  }
  return DataView(data);
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
  TarBuilder tar;
  RETURN_IF_ERROR(tar.AddTree(job->output_host_path, "named-outputs/score"));
  if (all) {
    RETURN_IF_ERROR(tar.AddTree(paths.logs(), "artifacts/logs"));
    RETURN_IF_ERROR(tar.AddTree(paths.root / "azureml-logs", "artifacts/azureml-logs"));
  }
  return tar.Finish();
}

}  // namespace berth::batch
