#include "controlplane/management_service.h"

#include <chrono>

#include "absl/time/time.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "compute/compute_driver.h"
#include "controlplane/python_environment.h"
#include "controlplane/serving_checks.h"
#include "core/launch_plan.h"
#include "core/mlflow_flavor.h"
#include "core/spec_json.h"
#include "worker/model_repository.h"

namespace berth::controlplane {

using core::ProvisioningState;
using nlohmann::json;
using state::DeploymentRecord;
using state::EndpointRecord;

namespace {

std::string IsoTime(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

absl::Status OperationRunning(const std::string& what, ProvisioningState state) {
  return absl::FailedPreconditionError(what + " has an operation in progress (" +
                                       core::ProvisioningStateName(state) +
                                       "); wait for it to finish");
}

absl::Status CheckDocumentName(const json& doc, const std::string& field, const std::string& name) {
  if (!doc.is_object()) return InvalidField("", "the document must be a JSON object");
  auto it = doc.find(field);
  // Names are compared ignoring case: `PUT .../deployments/GREEN` may carry `name: Green`.
  if (it != doc.end() && !(it->is_string() && core::SameName(it->get<std::string>(), name))) {
    return InvalidField(field, "'" + (it->is_string() ? it->get<std::string>() : it->dump()) +
                                   "' does not match '" + name + "' named by the request");
  }
  return absl::OkStatus();
}

}  // namespace

ManagementService::ManagementService(state::StateStore& store, const auth::SecretBox& secrets,
                                     ArtifactStore& artifacts, const Clock& clock,
                                     ServiceOptions options, OnChange on_change)
    : store_(store),
      secrets_(secrets),
      artifacts_(artifacts),
      clock_(clock),
      options_(std::move(options)),
      on_change_(std::move(on_change)) {}

int64_t ManagementService::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------- views

absl::StatusOr<json> ManagementService::EndpointView(
    const EndpointRecord& record, const core::Parsed<core::EndpointSpec>* already_parsed) {
  core::Parsed<core::EndpointSpec> parsed;
  if (already_parsed != nullptr) {
    parsed = *already_parsed;
  } else {
    ASSIGN_OR_RETURN(parsed, core::ParseEndpointSpec(record.spec));
  }
  json view = core::ToJson(parsed.spec);
  ASSIGN_OR_RETURN(auto deployments, store_.ListDeployments(record.name));
  std::vector<std::string> names;
  for (const auto& d : deployments) names.push_back(d.name);
  json traffic = json::object();
  for (const auto& name : names) traffic[name] = 0;
  // Records written before traffic kept the deployments' names may differ in case.
  for (const auto& [name, percent] : core::TrafficByDeploymentName(parsed.spec.traffic, names)) {
    traffic[name] = percent;
  }
  view["traffic"] = traffic;
  view["mirror_traffic"] = core::TrafficByDeploymentName(parsed.spec.mirror_traffic, names);
  // Live figures per deployment (the deployment's own view also lists scaling decisions).
  json live = json::object();
  for (const auto& name : names) {
    json figures = observer_ ? observer_->LiveJson(record.name, name) : json::object();
    figures.erase("scale_decisions");
    live[name] = std::move(figures);
  }
  view["live"] = std::move(live);
  view["provisioning_state"] = core::ProvisioningStateName(record.state);
  view["reason"] = record.reason;
  view["scoring_uri"] = options_.base_url + "/endpoints/" + record.name + "/score";
  view["openapi_uri"] = options_.base_url + "/endpoints/" + record.name + "/swagger.json";
  view["created_at"] = IsoTime(record.created_at_ms);
  view["updated_at"] = IsoTime(record.updated_at_ms);
  view["warnings"] = parsed.warnings;
  return view;
}

json ManagementService::DeploymentView(const DeploymentRecord& record,
                                       const core::DeploymentSpec* spec) const {
  json view;
  if (spec != nullptr) {
    view = core::ToJson(*spec);
  } else {
    auto parsed = core::ParseDeploymentSpec(record.spec);
    view = parsed.ok() ? core::ToJson(parsed->spec) : record.spec;
  }
  view["provisioning_state"] = core::ProvisioningStateName(record.state);
  view["reason"] = record.reason;
  view["warnings"] = record.warnings;
  view["generation"] = record.generation;
  view["instances"] =
      observer_ ? observer_->InstancesJson(record.endpoint, record.name) : json::array();
  view["live"] = observer_ ? observer_->LiveJson(record.endpoint, record.name) : json::object();
  view["created_at"] = IsoTime(record.created_at_ms);
  view["updated_at"] = IsoTime(record.updated_at_ms);
  return view;
}

// ------------------------------------------------------------------------------ endpoints

absl::StatusOr<Page> ManagementService::ListEndpoints(const PageRequest& request) {
  // The store still reads every record (a paged store query is a follow-up); only the page's
  // views are built, and EndpointView costs a deployments query each.
  ASSIGN_OR_RETURN(auto records, store_.ListEndpoints());
  Slice<EndpointRecord> slice = PageOf(
      records, request, [&](const EndpointRecord& r) { return r.name > request.skip_token; });
  Page page;
  for (const auto& r : slice.items) {
    ASSIGN_OR_RETURN(json view, EndpointView(r));
    page.value.push_back(std::move(view));
  }
  if (slice.more) page.next_token = slice.items.back().name;
  return page;
}

absl::StatusOr<json> ManagementService::GetEndpoint(const std::string& name) {
  ASSIGN_OR_RETURN(EndpointRecord record, store_.GetEndpoint(name));
  return EndpointView(record);
}

absl::StatusOr<ManagementService::Written> ManagementService::CreateEndpoint(const json& doc) {
  if (!doc.is_object()) return InvalidField("", "the document must be a JSON object");
  auto name = doc.find("name");
  if (name == doc.end() || !name->is_string()) {
    return InvalidField("name", "required: the endpoint's name");
  }
  absl::StatusOr<Written> result;
  {
    absl::MutexLock lock(&write_mu_);
    result = WriteEndpointLocked(name->get<std::string>(), doc, true, true);
  }
  if (result.ok()) on_change_(name->get<std::string>(), "");
  return result;
}

absl::StatusOr<ManagementService::Written> ManagementService::ApplyEndpoint(const std::string& name,
                                                                            const json& doc,
                                                                            bool allow_create) {
  absl::StatusOr<Written> result;
  {
    absl::MutexLock lock(&write_mu_);
    result = WriteEndpointLocked(name, doc, allow_create, false);
  }
  if (result.ok()) on_change_(name, "");
  return result;
}

absl::StatusOr<DeploymentRecord> ManagementService::FindDeployment(const std::string& endpoint,
                                                                   const std::string& name) {
  auto exact = store_.GetDeployment(endpoint, name);
  if (!absl::IsNotFound(exact.status())) return exact;
  ASSIGN_OR_RETURN(auto deployments, store_.ListDeployments(endpoint));
  for (auto& d : deployments) {
    if (core::SameName(d.name, name)) return std::move(d);
  }
  return exact.status();
}

absl::Status ManagementService::ResolveTrafficTargets(const std::string& endpoint,
                                                      std::map<std::string, int>* traffic,
                                                      std::map<std::string, int>* mirror,
                                                      std::vector<DeploymentRecord>* targets) {
  ASSIGN_OR_RETURN(auto deployments, store_.ListDeployments(endpoint));
  auto find = [&](const std::string& name) -> const DeploymentRecord* {
    for (const auto& d : deployments) {
      if (core::SameName(d.name, name)) return &d;
    }
    return nullptr;
  };
  std::map<std::string, int> resolved_traffic, resolved_mirror;
  for (const auto& [name, percent] : *traffic) {
    const DeploymentRecord* d = find(name);
    if (d == nullptr) {
      return InvalidField("traffic." + name, "deployment '" + name +
                                                 "' does not exist in endpoint '" + endpoint + "'");
    }
    if (d->state == ProvisioningState::kDeleting) {
      return InvalidField("traffic." + name, "deployment '" + d->name + "' is being deleted");
    }
    resolved_traffic[d->name] = percent;
    if (percent > 0 && targets) targets->push_back(*d);
  }
  for (const auto& [name, percent] : *mirror) {
    const DeploymentRecord* d = find(name);
    if (d == nullptr) {
      return InvalidField(
          "mirror_traffic." + name,
          "deployment '" + name + "' does not exist in endpoint '" + endpoint + "'");
    }
    resolved_mirror[d->name] = percent;
    if (percent > 0 && targets) targets->push_back(*d);
  }
  *traffic = std::move(resolved_traffic);
  *mirror = std::move(resolved_mirror);
  return absl::OkStatus();
}

absl::Status ManagementService::SealNewKeys(EndpointRecord& record, bool primary, bool secondary) {
  if (primary) {
    ASSIGN_OR_RETURN(record.primary_key_sealed, secrets_.Seal(auth::NewSecret(32)));
  }
  if (secondary) {
    ASSIGN_OR_RETURN(record.secondary_key_sealed, secrets_.Seal(auth::NewSecret(32)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ManagementService::Written> ManagementService::WriteEndpointLocked(
    const std::string& name, const json& doc, bool allow_create, bool require_new) {
  RETURN_IF_ERROR(CheckDocumentName(doc, "name", name));
  auto existing = store_.GetEndpoint(name);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (existing.ok() && require_new) {
    return absl::AlreadyExistsError("endpoint '" + name +
                                    "' already exists; use update to change it");
  }
  if (!existing.ok() && !allow_create) {
    return absl::NotFoundError("endpoint '" + name + "' not found");
  }
  if (existing.ok() && core::IsOperationRunning(existing->state)) {
    return OperationRunning("endpoint '" + name + "'", existing->state);
  }
  // The store matches names regardless of case; an existing endpoint keeps its spelling.
  const std::string stored_name = existing.ok() ? existing->name : name;
  json merged = existing.ok() ? core::MergeSpec(existing->spec, doc) : doc;
  merged["name"] = stored_name;
  ASSIGN_OR_RETURN(auto parsed, core::ParseEndpointSpec(merged));
  std::vector<DeploymentRecord> targets;
  RETURN_IF_ERROR(
      ResolveTrafficTargets(name, &parsed.spec.traffic, &parsed.spec.mirror_traffic, &targets));
  // Stored under the deployments' own names: `GREEN: 100` routes to `Green`.
  if (merged.contains("traffic")) merged["traffic"] = parsed.spec.traffic;
  if (merged.contains("mirror_traffic")) merged["mirror_traffic"] = parsed.spec.mirror_traffic;

  EndpointRecord record = existing.ok() ? *existing : EndpointRecord{};
  record.name = stored_name;
  record.spec = merged;
  record.state = ProvisioningState::kSucceeded;  // nothing to provision beyond the record
  record.reason.clear();
  record.updated_at_ms = NowMs();
  state::WriteBatch batch;
  if (!existing.ok()) {
    record.created_at_ms = record.updated_at_ms;
    RETURN_IF_ERROR(SealNewKeys(record, true, true));
    ASSIGN_OR_RETURN(record.token_secret_sealed, secrets_.Seal(auth::NewSecret(32)));
    batch.CreateEndpoint(record);
  } else {
    batch.UpdateEndpoint(record);  // conditional on the revision read above
  }
  // The deployments given traffic must still be as read (not deleted or being deleted by
  // another writer sharing the store): rewritten unchanged, on their revisions, in the same
  // commit.
  for (const DeploymentRecord& target : targets) batch.UpdateDeployment(target);
  ASSIGN_OR_RETURN(int64_t revision, store_.Commit(batch));
  (void)revision;
  ASSIGN_OR_RETURN(json view, EndpointView(record, &parsed));
  return Written{std::move(view), !existing.ok()};
}

absl::StatusOr<json> ManagementService::DeleteEndpoint(const std::string& name) {
  absl::StatusOr<json> view;
  bool changed = false;
  std::string stored_name = name;
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(EndpointRecord record, store_.GetEndpoint(name));
    stored_name = record.name;
    if (record.state != ProvisioningState::kDeleting) {
      // All or none, each on the revision read: a deployment another writer creates or changes
      // meanwhile makes the delete fail (409) rather than leave it behind.
      state::WriteBatch batch;
      ASSIGN_OR_RETURN(auto deployments, store_.ListDeployments(name));
      for (auto& d : deployments) {
        if (d.state == ProvisioningState::kDeleting) continue;
        d.state = ProvisioningState::kDeleting;
        d.updated_at_ms = NowMs();
        batch.UpdateDeployment(d);
      }
      record.state = ProvisioningState::kDeleting;
      record.updated_at_ms = NowMs();
      batch.UpdateEndpoint(record);
      ASSIGN_OR_RETURN(int64_t revision, store_.Commit(batch));
      (void)revision;
      changed = true;
    }
    view = EndpointView(record);
  }
  if (changed) on_change_(stored_name, "");
  return view;
}

absl::StatusOr<json> ManagementService::GetKeys(const std::string& name) {
  ASSIGN_OR_RETURN(EndpointRecord record, store_.GetEndpoint(name));
  ASSIGN_OR_RETURN(auto parsed, core::ParseEndpointSpec(record.spec));
  if (parsed.spec.auth_mode != core::AuthMode::kKey) {
    return InvalidField("auth_mode", "Endpoint '" + name +
                                         "' does not use keys for authentication; request a "
                                         "token instead");
  }
  ASSIGN_OR_RETURN(std::string primary, secrets_.Open(record.primary_key_sealed));
  ASSIGN_OR_RETURN(std::string secondary, secrets_.Open(record.secondary_key_sealed));
  return json{{"primaryKey", primary}, {"secondaryKey", secondary}};
}

absl::StatusOr<json> ManagementService::RegenerateKeys(const std::string& name,
                                                       const std::string& key_type) {
  if (key_type != "primary" && key_type != "secondary") {
    return InvalidField("key_type", "Key type must be 'primary' or 'secondary'.");
  }
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(EndpointRecord record, store_.GetEndpoint(name));
    if (core::IsOperationRunning(record.state)) {
      return OperationRunning("endpoint '" + name + "'", record.state);
    }
    ASSIGN_OR_RETURN(auto parsed, core::ParseEndpointSpec(record.spec));
    if (parsed.spec.auth_mode != core::AuthMode::kKey) {
      return InvalidField("auth_mode",
                          "Endpoint '" + name + "' does not use keys for authentication.");
    }
    RETURN_IF_ERROR(SealNewKeys(record, key_type == "primary", key_type == "secondary"));
    record.updated_at_ms = NowMs();
    RETURN_IF_ERROR(store_.UpdateEndpoint(record));
  }
  on_change_(name, "");
  return GetKeys(name);
}

absl::StatusOr<json> ManagementService::IssueToken(const std::string& name) {
  ASSIGN_OR_RETURN(EndpointRecord record, store_.GetEndpoint(name));
  ASSIGN_OR_RETURN(auto parsed, core::ParseEndpointSpec(record.spec));
  if (parsed.spec.auth_mode != core::AuthMode::kAmlToken) {
    return InvalidField("auth_mode", "Endpoint '" + name +
                                         "' uses keys; tokens are issued for auth_mode aml_token");
  }
  ASSIGN_OR_RETURN(std::string secret, secrets_.Open(record.token_secret_sealed));
  auth::AmlToken token = auth::IssueToken(name, secret, clock_.WallNow(), options_.token_lifetime);
  return json{{"accessToken", token.access_token},
              {"expiryTimeUtc", token.expiry_unix_s},
              {"refreshAfterTimeUtc", token.refresh_after_unix_s},
              {"tokenType", "Bearer"}};
}

// ---------------------------------------------------------------------------- deployments

absl::StatusOr<Page> ManagementService::ListDeployments(const std::string& endpoint,
                                                        const PageRequest& request) {
  RETURN_IF_ERROR(store_.GetEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(auto records, store_.ListDeployments(endpoint));
  Slice<DeploymentRecord> slice = PageOf(
      records, request, [&](const DeploymentRecord& r) { return r.name > request.skip_token; });
  Page page;
  for (const auto& r : slice.items) page.value.push_back(DeploymentView(r));
  if (slice.more) page.next_token = slice.items.back().name;
  return page;
}

absl::StatusOr<json> ManagementService::GetDeployment(const std::string& endpoint,
                                                      const std::string& name) {
  RETURN_IF_ERROR(store_.GetEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(DeploymentRecord record, FindDeployment(endpoint, name));
  return DeploymentView(record);
}

absl::StatusOr<ManagementService::Written> ManagementService::CreateDeployment(
    const std::string& endpoint, const json& doc) {
  if (!doc.is_object()) return InvalidField("", "the document must be a JSON object");
  auto name = doc.find("name");
  if (name == doc.end() || !name->is_string()) {
    return InvalidField("name", "required: the deployment's name");
  }
  return WriteDeployment(endpoint, name->get<std::string>(), doc, true, true);
}

absl::StatusOr<ManagementService::Written> ManagementService::ApplyDeployment(
    const std::string& endpoint, const std::string& name, const json& doc, bool allow_create) {
  return WriteDeployment(endpoint, name, doc, allow_create, false);
}

absl::StatusOr<ManagementService::Written> ManagementService::WriteDeployment(
    const std::string& endpoint, const std::string& name, const json& doc, bool allow_create,
    bool require_new) {
  // The checks run without the write lock (an interpreter check can take seconds, and the
  // supervisor's outcome writes must not wait for it); the write then takes the lock and
  // commits only if the records the checks saw are unchanged. Otherwise the checks run again
  // on the new records, a few times, then the write fails with ABORTED (409).
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(PreparedDeployment prepared,
                     PrepareDeployment(endpoint, name, doc, allow_create, require_new));
    absl::StatusOr<DeploymentRecord> result;
    {
      absl::MutexLock lock(&write_mu_);
      result = CommitDeploymentLocked(prepared);
    }
    if (absl::IsAborted(result.status()) && attempt < kAttempts) continue;
    if (!result.ok()) return result.status();
    on_change_(prepared.endpoint, prepared.name);
    return Written{DeploymentView(*result, &prepared.parsed.spec), !prepared.existing.has_value()};
  }
}

absl::Status ManagementService::CheckArtifacts(const core::DeploymentSpec& spec) {
  return CheckDeploymentArtifacts(artifacts_, spec);
}

absl::Status ManagementService::CheckRuntime(const core::DeploymentSpec& spec,
                                             std::vector<std::string>* warnings) {
  core::ServingKind kind = core::ServingKindOf(spec);
  if (kind == core::ServingKind::kCustomCommand) return absl::OkStatus();
  if (kind == core::ServingKind::kTritonModel) {
    if (!spec.model || !spec.model->artifact || spec.model->artifact->is_file) {
      return InvalidField("model.path", "a triton_model is a folder: a Triton model repository");
    }
    auto found = worker::CheckRepository(artifacts_.PathOf(spec.model->artifact->digest));
    if (!found.ok()) return InvalidField("model.path", std::string(found.status().message()));
    warnings->insert(warnings->end(), found->begin(), found->end());
    return absl::OkStatus();
  }
  if (kind == core::ServingKind::kMlflow && spec.model && spec.model->artifact &&
      !spec.model->artifact->is_file &&
      core::IsNativeMlflow(artifacts_.PathOf(spec.model->artifact->digest))) {
    return absl::OkStatus();  // berth-worker serves it: no Python interpreter involved
  }
  // A deployment without a command or script is served only when its model is an MLflow model.
  RETURN_IF_ERROR(CheckMlflowServable(artifacts_, spec, /*batch=*/false));
  const std::string& python =
      spec.environment.python.empty() ? options_.python : spec.environment.python;
  auto info = options_.inspect_interpreter(python);
  if (!info.ok()) {
    return InvalidField(spec.environment.python.empty() ? "environment" : "environment.python",
                        std::string(info.status().message()));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> found,
                   CheckPythonDependencies(artifacts_, spec, *info, python));
  warnings->insert(warnings->end(), found.begin(), found.end());
  return absl::OkStatus();
}

absl::StatusOr<ModelRegistry*> ManagementService::Models() {
  if (models_ == nullptr) {
    return absl::FailedPreconditionError("this server has no model registry");
  }
  return models_;
}

absl::StatusOr<core::DeploymentSpec> ManagementService::ResolveModel(
    json& merged, core::Parsed<core::DeploymentSpec>& parsed) {
  if (!parsed.spec.model || parsed.spec.model->reference.empty()) return parsed.spec;
  ASSIGN_OR_RETURN(ModelRegistry * models, Models());
  ASSIGN_OR_RETURN(core::ModelSpec model, models->Resolve(*parsed.spec.model));
  // Azure records the version `@latest` meant when the deployment was written; so does berth,
  // so a newer registration never changes what running (or restarted) instances load. Writing
  // the same document again picks up the newest version (a rolling update).
  if (model.reference != parsed.spec.model->reference) {
    merged["model"] = model.reference;
    ASSIGN_OR_RETURN(parsed, core::ParseDeploymentSpec(merged));
  }
  core::DeploymentSpec resolved = parsed.spec;
  resolved.model = std::move(model);
  // The registered type decides too (a triton_model needs the native worker).
  RETURN_IF_ERROR(core::CheckServable(resolved));
  return resolved;
}

absl::StatusOr<ManagementService::PreparedDeployment> ManagementService::PrepareDeployment(
    const std::string& endpoint, const std::string& name, const json& doc, bool allow_create,
    bool require_new) {
  RETURN_IF_ERROR(CheckDocumentName(doc, "name", name));
  RETURN_IF_ERROR(CheckDocumentName(doc, "endpoint_name", endpoint));
  PreparedDeployment prepared;
  prepared.endpoint = endpoint;
  prepared.name = name;
  auto endpoint_record = store_.GetEndpoint(endpoint);
  if (!endpoint_record.ok()) {
    if (absl::IsNotFound(endpoint_record.status())) {
      return WithTarget(
          absl::NotFoundError("endpoint '" + endpoint + "' not found; create the endpoint first"),
          "endpoint_name");
    }
    return endpoint_record.status();
  }
  if (endpoint_record->state == ProvisioningState::kDeleting) {
    return OperationRunning("endpoint '" + endpoint + "'", endpoint_record->state);
  }
  auto existing = FindDeployment(endpoint, name);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (existing.ok() && require_new) {
    const std::string as_written =
        existing->name == name ? "" : " as '" + existing->name + "' (names are not case-sensitive)";
    return absl::AlreadyExistsError("deployment '" + name + "' already exists in endpoint '" +
                                    endpoint + "'" + as_written + "; use update to change it");
  }
  if (!existing.ok() && !allow_create) {
    return absl::NotFoundError("deployment '" + name + "' not found in endpoint '" + endpoint +
                               "'");
  }
  if (existing.ok() && core::IsOperationRunning(existing->state)) {
    return OperationRunning("deployment '" + name + "'", existing->state);
  }
  if (existing.ok()) prepared.existing = *std::move(existing);
  // The store matches names regardless of case; existing records keep their spelling.
  prepared.endpoint = endpoint_record->name;
  if (prepared.existing) prepared.name = prepared.existing->name;
  prepared.merged = prepared.existing ? core::MergeSpec(prepared.existing->spec, doc) : doc;
  prepared.merged["name"] = prepared.name;
  prepared.merged["endpoint_name"] = prepared.endpoint;
  // Parsed once; the checks below and the commit use these typed values.
  ASSIGN_OR_RETURN(prepared.parsed, core::ParseDeploymentSpec(prepared.merged));
  RETURN_IF_ERROR(CheckArtifacts(prepared.parsed.spec));
  ASSIGN_OR_RETURN(core::DeploymentSpec resolved, ResolveModel(prepared.merged, prepared.parsed));
  RETURN_IF_ERROR(CheckRuntime(resolved, &prepared.parsed.warnings));
  return prepared;
}

absl::StatusOr<DeploymentRecord> ManagementService::CommitDeploymentLocked(
    const PreparedDeployment& prepared) {
  const std::string& endpoint = prepared.endpoint;
  const std::string& name = prepared.name;
  // What the checks saw must still hold.
  ASSIGN_OR_RETURN(EndpointRecord endpoint_record, store_.GetEndpoint(endpoint));
  if (endpoint_record.state == ProvisioningState::kDeleting) {
    return OperationRunning("endpoint '" + endpoint + "'", endpoint_record.state);
  }
  auto existing = store_.GetDeployment(endpoint, name);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  std::optional<DeploymentRecord> now;
  if (existing.ok()) now = *std::move(existing);
  if (now != prepared.existing) {
    return absl::AbortedError("deployment '" + name + "' in endpoint '" + endpoint +
                              "' changed while this write was being checked; try again");
  }
  // DeleteModel holds the write lock too: the registered version checked above is still there.
  if (prepared.parsed.spec.model && !prepared.parsed.spec.model->reference.empty()) {
    ASSIGN_OR_RETURN(ModelRegistry * models, Models());
    RETURN_IF_ERROR(models->Resolve(*prepared.parsed.spec.model).status());
  }

  DeploymentRecord record = now ? *now : DeploymentRecord{};
  record.endpoint = endpoint;
  record.name = name;
  record.updated_at_ms = NowMs();
  record.warnings = prepared.parsed.warnings;
  record.spec = prepared.merged;
  if (!now) {
    record.state = ProvisioningState::kCreating;
    record.generation = 1;
    record.created_at_ms = record.updated_at_ms;
    RETURN_IF_ERROR(store_.CreateDeployment(record));
  } else {
    auto before = core::ParseDeploymentSpec(now->spec);
    bool changed = !before.ok() || !(before->spec == prepared.parsed.spec);
    if (changed || now->state == ProvisioningState::kFailed) {
      record.state = ProvisioningState::kUpdating;
      record.reason.clear();
      record.generation = now->generation + 1;
    }
    RETURN_IF_ERROR(store_.UpdateDeployment(record));
  }
  return record;
}

absl::StatusOr<json> ManagementService::DeleteDeployment(const std::string& endpoint,
                                                         const std::string& name) {
  DeploymentRecord record;
  std::string endpoint_record_name;
  bool changed = false;
  {
    absl::MutexLock lock(&write_mu_);
    ASSIGN_OR_RETURN(EndpointRecord endpoint_record, store_.GetEndpoint(endpoint));
    endpoint_record_name = endpoint_record.name;
    ASSIGN_OR_RETURN(record, FindDeployment(endpoint, name));
    if (record.state != ProvisioningState::kDeleting) {
      ASSIGN_OR_RETURN(auto parsed, core::ParseEndpointSpec(endpoint_record.spec));
      // Keys are compared ignoring case: records written before traffic kept the deployments'
      // names may differ in case, and still route to this deployment.
      const std::string& stored = record.name;
      for (const auto& [key, percent] : parsed.spec.traffic) {
        if (!core::SameName(key, stored) || percent <= 0) continue;
        return WithTarget(absl::FailedPreconditionError(
                              "deployment '" + stored + "' has " + std::to_string(percent) +
                              "% of live traffic in endpoint '" + endpoint +
                              "'; set its traffic to 0 before deleting it"),
                          "traffic." + key);
      }
      for (const auto& [key, percent] : parsed.spec.mirror_traffic) {
        if (!core::SameName(key, stored)) continue;
        return WithTarget(
            absl::FailedPreconditionError("deployment '" + stored +
                                          "' receives mirrored traffic in endpoint '" + endpoint +
                                          "'; set --mirror-traffic \"" + stored + "=0\" first"),
            "mirror_traffic." + key);
      }
      record.state = ProvisioningState::kDeleting;
      record.updated_at_ms = NowMs();
      // The endpoint's traffic checked above must still hold (another writer may give this
      // deployment traffic meanwhile): the endpoint is rewritten unchanged on its revision, in
      // the same commit.
      state::WriteBatch batch;
      batch.UpdateEndpoint(endpoint_record);
      batch.UpdateDeployment(record);
      ASSIGN_OR_RETURN(int64_t revision, store_.Commit(batch));
      (void)revision;
      changed = true;
    }
  }
  if (changed) on_change_(endpoint_record_name, record.name);
  return DeploymentView(record);
}

absl::Status ManagementService::RecordDeploymentOutcome(const std::string& endpoint,
                                                        const std::string& name, int64_t generation,
                                                        ProvisioningState state,
                                                        const std::string& reason) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(DeploymentRecord record, store_.GetDeployment(endpoint, name));
  if (record.generation != generation || record.state == ProvisioningState::kDeleting) {
    return absl::AbortedError("superseded by a newer write");
  }
  record.state = state;
  record.reason = reason;
  record.updated_at_ms = NowMs();
  return store_.UpdateDeployment(record);
}

absl::Status ManagementService::FinishDeploymentDelete(const std::string& endpoint,
                                                       const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(DeploymentRecord record, store_.GetDeployment(endpoint, name));
  if (record.state != ProvisioningState::kDeleting) {
    return absl::AbortedError("deployment is no longer being deleted");
  }
  return store_.DeleteDeployment(endpoint, name);
}

absl::Status ManagementService::FinishEndpointDelete(const std::string& name) {
  absl::MutexLock lock(&write_mu_);
  ASSIGN_OR_RETURN(EndpointRecord record, store_.GetEndpoint(name));
  ASSIGN_OR_RETURN(auto deployments, store_.ListDeployments(name));
  if (record.state != ProvisioningState::kDeleting || !deployments.empty()) {
    return absl::AbortedError("endpoint is not ready to be removed");
  }
  return store_.DeleteEndpoint(name);
}

absl::StatusOr<std::string> ManagementService::GetLogs(const std::string& endpoint,
                                                       const std::string& name, int lines,
                                                       int64_t instance,
                                                       const std::string& container) {
  RETURN_IF_ERROR(store_.GetEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(DeploymentRecord record, FindDeployment(endpoint, name));
  if (lines < 1) return InvalidField("lines", "must be at least 1");
  if (container != "inference-server" && container != "storage-initializer") {
    return InvalidField("container", "must be inference-server or storage-initializer");
  }
  std::optional<std::filesystem::path> file =
      observer_ ? observer_->LogFile(endpoint, record.name, instance) : std::nullopt;
  if (!file) {
    if (instance != 0) {
      return absl::NotFoundError("instance " + std::to_string(instance) + " of deployment '" +
                                 name + "' not found");
    }
    return std::string();
  }
  if (container == "storage-initializer") file = file->parent_path() / core::kStorageInitializerLog;
  return compute::TailLog(*file, lines);
}

}  // namespace berth::controlplane
