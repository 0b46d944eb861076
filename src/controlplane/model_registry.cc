#include "controlplane/model_registry.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace berth::controlplane {
namespace {

using nlohmann::json;
using state::ModelRecord;

constexpr char kLatest[] = "latest";

bool IsLatestLabel(const std::string& version) { return absl::AsciiStrToLower(version) == kLatest; }

bool IsInteger(const std::string& version) {
  return !version.empty() &&
         std::all_of(version.begin(), version.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// `digits` + 1 in decimal, without leading zeros and at any length.
std::string Increment(std::string digits) {
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
  for (size_t i = digits.size(); i-- > 0;) {
    if (digits[i] != '9') {
      ++digits[i];
      return digits;
    }
    digits[i] = '0';
  }
  return "1" + digits;
}

std::string SpecString(const ModelRecord& record, const char* key, const char* fallback) {
  auto it = record.spec.find(key);
  return it != record.spec.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::string Versions(const std::vector<ModelRecord>& records) {
  return absl::StrJoin(records, ", ",
                       [](std::string* out, const ModelRecord& r) { out->append(r.version); });
}

}  // namespace

ModelRegistry::ModelRegistry(state::StateStore& store, const ArtifactStore& artifacts,
                             const Clock& clock)
    : store_(store), artifacts_(artifacts), clock_(clock) {}

absl::StatusOr<ModelRecord> ModelRegistry::Create(const core::ModelAsset& model) {
  // The document rules hold for every caller, not only for API requests.
  RETURN_IF_ERROR(core::ParseModelDocument(core::ToJson(model)).status());
  const core::ArtifactRef& artifact = *model.artifact;  // the parse requires it
  if (!artifacts_.Has(artifact.digest)) {
    return WithTarget(
        absl::NotFoundError(absl::StrCat("artifact: ", artifact.digest,
                                         " is not uploaded; PUT it to /api/v1/artifacts first")),
        "artifact");
  }
  ModelRecord record;
  record.name = model.name;
  record.version = model.version;
  record.spec = core::ToJson(model);
  for (const char* key : {"name", "version", "artifact"}) record.spec.erase(key);
  record.artifact = artifact;
  record.created_at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.WallNow().time_since_epoch())
          .count();

  absl::MutexLock lock(&mu_);
  if (record.version.empty()) {
    ASSIGN_OR_RETURN(std::vector<ModelRecord> versions, store_.ListModels(model.name));
    // Integer versions sort first, in numeric order: the last of them is the highest.
    auto highest = std::find_if(versions.rbegin(), versions.rend(),
                                [](const ModelRecord& r) { return IsInteger(r.version); });
    record.version = highest == versions.rend() ? "1" : Increment(highest->version);
  }
  absl::Status created = store_.CreateModel(record);
  if (absl::IsAlreadyExists(created)) {
    return WithTarget(absl::AlreadyExistsError(absl::StrCat(
                          "model '", record.name, "' version '", record.version,
                          "' already exists; give another version, or none to get the next "
                          "integer")),
                      "version");
  }
  RETURN_IF_ERROR(created);
  return record;
}

absl::StatusOr<ModelRecord> ModelRegistry::Latest(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<ModelRecord> versions, store_.ListModels(name));
  if (versions.empty()) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no registered version"));
  }
  // The most recently registered; among equal times the last in version order.
  auto newest = versions.begin();
  for (auto it = versions.begin(); it != versions.end(); ++it) {
    if (it->created_at_ms >= newest->created_at_ms) newest = it;
  }
  return *newest;
}

absl::StatusOr<ModelRecord> ModelRegistry::Get(const std::string& name,
                                               const std::string& version) {
  if (IsLatestLabel(version)) return Latest(name);
  return store_.GetModel(name, version);
}

absl::StatusOr<std::vector<ModelRecord>> ModelRegistry::List(const std::string& name) {
  return store_.ListModels(name);
}

absl::StatusOr<std::vector<std::string>> ModelRegistry::Users(const std::string& name,
                                                              const std::string& version) {
  std::vector<std::string> users;
  std::optional<std::string> latest;  // what `@latest` means, looked up once when needed
  // Whether a deployment document's `model` refers to `name`:`version` (inline: no).
  auto refers = [&](const nlohmann::json& spec) -> absl::StatusOr<bool> {
    if (!spec.is_object()) return false;
    auto model = spec.find("model");
    if (model == spec.end() || !model->is_string()) return false;  // inline or none
    absl::StatusOr<core::AssetReference> ref = core::ParseModelReference(model->get<std::string>());
    if (!ref.ok() || ref->name != name) return false;
    if (ref->version.empty()) {
      if (!latest.has_value()) {
        ASSIGN_OR_RETURN(ModelRecord newest, Latest(name));
        latest = newest.version;
      }
      ref->version = *latest;
    }
    return ref->version == version;
  };
  ASSIGN_OR_RETURN(std::vector<state::EndpointRecord> endpoints, store_.ListEndpoints());
  for (const state::EndpointRecord& endpoint : endpoints) {
    ASSIGN_OR_RETURN(std::vector<state::DeploymentRecord> deployments,
                     store_.ListDeployments(endpoint.name));
    for (const state::DeploymentRecord& d : deployments) {
      if (d.state == core::ProvisioningState::kDeleting) continue;
      ASSIGN_OR_RETURN(bool uses, refers(d.spec));
      if (uses) users.push_back(endpoint.name + "/" + d.name);
    }
  }
  // Batch deployments too (their documents use the same `model` field).
  ASSIGN_OR_RETURN(std::vector<state::ResourceRecord> batch,
                   store_.ListResources(state::kResourceBatchDeployment, ""));
  for (const state::ResourceRecord& d : batch) {
    ASSIGN_OR_RETURN(bool uses, refers(d.doc));
    if (uses) {
      users.push_back(d.doc.value("endpoint_name", std::string()) + "/" +
                      d.doc.value("name", d.key) + " (batch)");
    }
  }
  return users;
}

absl::Status ModelRegistry::Delete(const std::string& name, const std::string& version) {
  if (IsLatestLabel(version)) {
    return InvalidField("version", "'latest' is a label; name the version to delete");
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(store_.GetModel(name, version).status());
  ASSIGN_OR_RETURN(std::vector<std::string> users, Users(name, version));
  if (!users.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", name, "' version '", version, "' is used by deployment",
        users.size() == 1 ? " " : "s ", absl::StrJoin(users, ", "),
        " (endpoint/deployment); update or delete ", users.size() == 1 ? "it" : "them", " first"));
  }
  return store_.DeleteModel(name, version);
}

absl::StatusOr<core::ModelSpec> ModelRegistry::Resolve(const core::ModelSpec& model) {
  if (model.reference.empty()) return model;
  absl::StatusOr<ModelRecord> record =
      model.version.empty() ? Latest(model.name) : store_.GetModel(model.name, model.version);
  if (absl::IsNotFound(record.status())) {
    ASSIGN_OR_RETURN(std::vector<ModelRecord> versions, store_.ListModels(model.name));
    std::string detail =
        versions.empty()
            ? absl::StrCat("no version of model '", model.name, "' is registered")
            : absl::StrCat("model '", model.name, "' has versions ", Versions(versions));
    return WithTarget(
        absl::NotFoundError(absl::StrCat("model '", model.reference, "' not found: ", detail,
                                         "; register it with `berth model create`")),
        "model");
  }
  RETURN_IF_ERROR(record.status());
  core::ModelSpec out;
  out.name = record->name;
  out.version = record->version;
  out.type = SpecString(*record, "type", "custom_model");
  out.path = SpecString(*record, "path", "");
  out.description = SpecString(*record, "description", "");
  out.artifact = record->artifact;
  out.reference = core::ModelReference(record->name, record->version);
  return out;
}

json ModelView(const ModelRecord& record) {
  json view = {{"name", record.name},
               {"version", record.version},
               {"type", SpecString(record, "type", "custom_model")},
               {"description", SpecString(record, "description", "")},
               {"tags", json::object()},
               {"properties", json::object()},
               {"path", SpecString(record, "path", "")},
               {"artifact",
                {{"digest", record.artifact.digest},
                 {"base_name", record.artifact.base_name},
                 {"is_file", record.artifact.is_file}}},
               {"created_at",
                absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(record.created_at_ms),
                                 absl::UTCTimeZone())}};
  for (const char* key : {"tags", "properties"}) {
    auto it = record.spec.find(key);
    if (it != record.spec.end() && it->is_object()) view[key] = *it;
  }
  return view;
}

}  // namespace berth::controlplane
