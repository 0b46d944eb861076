#include "batch/batch_service.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "archive/tar_builder.h"
#include "batch/batch_service_internal.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "controlplane/serving_checks.h"
#include "core/spec_json.h"

namespace berth::batch {

using service_internal::CheckDataType;
using service_internal::DataRead;
using service_internal::HoldsFiles;
using service_internal::IsoTime;
using service_internal::ParseDataRecord;
using service_internal::SplitToken;
using service_internal::ValidateJobName;
namespace {

namespace fs = std::filesystem;
using controlplane::Page;
using controlplane::PageRequest;
using controlplane::Slice;
using nlohmann::json;
using state::ResourceRecord;
using state::ResourceWrite;

// The write that creates `kind`/`key` with `doc`, or updates `existing` (conditional on its
// revision), stamped `now`.
ResourceWrite Upsert(const absl::StatusOr<ResourceRecord>& existing, const char* kind,
                     std::string key, json doc, int64_t now) {
  ResourceRecord record = existing.ok() ? *existing : ResourceRecord{};
  record.kind = kind;
  record.key = std::move(key);
  record.doc = std::move(doc);
  record.updated_at_ms = now;
  if (!existing.ok()) record.created_at_ms = now;
  return {existing.ok() ? ResourceWrite::Action::kUpdate : ResourceWrite::Action::kCreate,
          std::move(record)};
}

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

std::string Lower(std::string_view name) { return absl::AsciiStrToLower(std::string(name)); }

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

}  // namespace

// What batch_service_jobs.cc shares (batch_service_internal.h says what each does).
namespace service_internal {

bool HoldsFiles(const fs::path& folder) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec)) return true;
  }
  return false;
}

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

absl::StatusOr<DataRead> ParseDataRecord(const ResourceRecord& record) {
  json doc = record.doc;
  const bool archived = doc.value("archived", false);
  doc.erase("archived");
  ASSIGN_OR_RETURN(core::DataAsset asset, core::ParseDataAsset(doc));
  asset.archived = archived;
  return DataRead{record, std::move(asset)};
}

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

std::pair<std::string, std::string> SplitToken(std::string_view token) {
  size_t slash = token.find('/');
  if (slash == std::string_view::npos) return {std::string(token), ""};
  return {std::string(token.substr(0, slash)), std::string(token.substr(slash + 1))};
}

std::string IsoTime(int64_t ms) {
  if (ms == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}
}  // namespace service_internal

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

absl::StatusOr<std::vector<std::string>> BatchService::CheckRuntime(
    const core::DeploymentSpec& worker) {
  // Without a scoring script the worker serves the model as an MLflow model.
  RETURN_IF_ERROR(controlplane::CheckMlflowServable(artifacts_, worker, /*batch=*/true));
  if (worker.environment.conda.empty() &&
      !controlplane::MlflowModelFolder(artifacts_, worker).has_value()) {
    return std::vector<std::string>{};  // nothing declared to check
  }
  const std::string& python =
      worker.environment.python.empty() ? options_.python : worker.environment.python;
  auto info = options_.inspect_interpreter(python);
  if (!info.ok()) {
    return InvalidField(worker.environment.python.empty() ? "environment" : "environment.python",
                        std::string(info.status().message()));
  }
  return controlplane::CheckPythonDependencies(artifacts_, worker, *info, python);
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
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> written,
                   store_.CommitResources({Upsert(existing, state::kResourceBatchEndpoint,
                                                  Lower(stored_name), merged, NowMs())}));
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
  ForgetDeletedInMetrics();
  return EndpointView(endpoint.record, endpoint.spec);
}

void BatchService::ForgetDeletedInMetrics() {
  if (options_.metrics == nullptr) return;
  auto endpoints = store_.ListResources(state::kResourceBatchEndpoint, "");
  if (!endpoints.ok()) return;  // kept until the next delete
  std::set<std::pair<std::string, std::string>> existing;
  for (const ResourceRecord& record : *endpoints) {
    auto endpoint = core::ParseBatchEndpointSpec(record.doc);
    if (!endpoint.ok()) continue;
    auto deployments = ReadDeployments(endpoint->spec.name);
    if (!deployments.ok()) return;
    for (const DeploymentRead& d : *deployments)
      existing.insert({endpoint->spec.name, d.spec.name});
  }
  options_.metrics->RetainBatch(existing);
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
  core::DeploymentSpec worker = core::WorkerDeploymentSpec(parsed.spec);
  if (parsed.spec.model && !parsed.spec.model->reference.empty()) {
    ASSIGN_OR_RETURN(core::ModelSpec model, ResolveModel(*parsed.spec.model));
    // As for online deployments: the version `@latest` meant now is recorded.
    if (model.reference != parsed.spec.model->reference) {
      merged["model"] = model.reference;
      ASSIGN_OR_RETURN(parsed, core::ParseBatchDeploymentSpec(merged));
    }
    worker.model = std::move(model);
  }
  // Batch writes report no warnings (other pinned versions): only what is missing fails.
  RETURN_IF_ERROR(CheckRuntime(worker).status());

  const int64_t now = NowMs();
  std::vector<ResourceWrite> writes = {Upsert(existing, state::kResourceBatchDeployment,
                                              DeploymentKey(endpoint_name, stored_name), merged,
                                              now)};
  if (set_default) {
    ResourceRecord endpoint_record = endpoint_read->record;
    endpoint_record.doc["defaults"]["deployment_name"] = stored_name;
    endpoint_record.updated_at_ms = now;
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
  ForgetDeletedInMetrics();
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
  ASSIGN_OR_RETURN(std::vector<ResourceRecord> written,
                   store_.CommitResources({Upsert(existing, state::kResourceCompute,
                                                  Lower(parsed.spec.name), replacement, NowMs())}));
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

json DataView(const DataRead& data) {
  json view = core::ToJson(data.asset);
  view["archived"] = data.asset.archived;
  view["created_at"] = IsoTime(data.record.created_at_ms);
  return view;
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

}  // namespace berth::batch
