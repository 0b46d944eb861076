#include "controlplane/supervisor/declared_state.h"

#include "common/status_macros.h"
#include "core/spec_json.h"
#include "spdlog/spdlog.h"

namespace berth::controlplane {

namespace fs = std::filesystem;

int64_t HighestInstanceDir(const fs::path& dir) {
  int64_t highest = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    try {
      highest = std::max<int64_t>(highest, std::stoll(it->path().filename().string()));
    } catch (...) {
    }
  }
  return highest;
}

DeclaredStateReader::DeclaredStateReader(state::StateStore& store, const auth::SecretBox& secrets,
                                         fs::path instances_dir)
    : store_(store), secrets_(secrets), instances_dir_(std::move(instances_dir)) {}

std::optional<DeclaredEndpoint> DeclaredStateReader::Endpoint(state::EndpointRecord record) {
  auto parsed = core::ParseEndpointSpec(record.spec);
  if (!parsed.ok()) {
    spdlog::error("endpoint '{}' has an invalid stored spec: {}", record.name,
                  parsed.status().ToString());
    return std::nullopt;
  }
  auto primary = secrets_.Open(record.primary_key_sealed);
  auto secondary = secrets_.Open(record.secondary_key_sealed);
  auto token = secrets_.Open(record.token_secret_sealed);
  if (!primary.ok() || !secondary.ok() || !token.ok()) {
    spdlog::error("endpoint '{}': cannot unseal its secrets (was the key file replaced?)",
                  record.name);
    return std::nullopt;
  }
  DeclaredEndpoint e;
  e.spec = std::move(parsed->spec);
  e.primary_key = *std::move(primary);
  e.secondary_key = *std::move(secondary);
  e.token_secret = *std::move(token);
  e.record = std::move(record);
  return e;
}

std::optional<DeclaredDeployment> DeclaredStateReader::Deployment(state::DeploymentRecord record) {
  auto parsed = core::ParseDeploymentSpec(record.spec);
  if (!parsed.ok()) {
    spdlog::error("deployment '{}/{}' has an invalid stored spec: {}", record.endpoint, record.name,
                  parsed.status().ToString());
    return std::nullopt;
  }
  DeclaredDeployment d;
  d.spec = std::move(parsed->spec);
  d.highest_instance_dir = HighestInstanceDir(instances_dir_ / record.endpoint / record.name);
  d.record = std::move(record);
  return d;
}

absl::Status DeclaredStateReader::ReadDeployments(DeclaredChange& change) {
  ASSIGN_OR_RETURN(auto records, store_.ListDeployments(change.endpoint));
  change.all_deployments = true;
  for (auto& record : records) {
    if (auto d = Deployment(std::move(record))) change.deployments.push_back(*std::move(d));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DeclaredChange>> DeclaredStateReader::ReadAll() {
  ASSIGN_OR_RETURN(auto records, store_.ListEndpoints());
  std::vector<DeclaredChange> all;
  for (auto& record : records) {
    DeclaredChange change;
    change.endpoint = record.name;
    change.endpoint_read = true;
    change.declared = Endpoint(std::move(record));
    if (!change.declared) continue;  // logged; treated as absent
    RETURN_IF_ERROR(ReadDeployments(change));
    all.push_back(std::move(change));
  }
  return all;
}

absl::StatusOr<DeclaredChange> DeclaredStateReader::Read(const std::string& endpoint,
                                                         const std::string& deployment) {
  DeclaredChange change;
  change.endpoint = endpoint;
  if (deployment.empty()) {
    change.endpoint_read = true;
    auto record = store_.GetEndpoint(endpoint);
    if (!record.ok() && !absl::IsNotFound(record.status())) return record.status();
    if (record.ok()) {
      change.endpoint = record->name;  // as stored, whatever case the caller used
      change.declared = Endpoint(*std::move(record));
    }
    if (change.declared) {
      RETURN_IF_ERROR(ReadDeployments(change));
    } else {
      change.all_deployments = true;  // none: the endpoint is gone
    }
    return change;
  }
  auto record = store_.GetDeployment(endpoint, deployment);
  if (!record.ok() && !absl::IsNotFound(record.status())) return record.status();
  std::optional<DeclaredDeployment> d;
  if (record.ok()) {
    change.endpoint = record->endpoint;  // as stored
    d = Deployment(*std::move(record));
  }
  if (d) {
    change.deployments.push_back(*std::move(d));
  } else {
    change.gone.push_back(deployment);
  }
  return change;
}

}  // namespace berth::controlplane
