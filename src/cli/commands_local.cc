// `--local` for `berth online-endpoint` and `berth online-deployment` (local_mode.h).

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/local_deploy.h"
#include "cli/local_mode.h"
#include "cli/local_state.h"
#include "cli/user_file.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "compute/compute_driver.h"
#include "core/spec_json.h"

namespace berth::cli {
namespace {

using nlohmann::json;

absl::Status InFile(const absl::Status& status, const std::string& spec_file) {
  return spec_file.empty() ? status : Annotate(status, spec_file);
}

absl::Status CheckNames(const std::string& endpoint, const std::string& deployment) {
  RETURN_IF_ERROR(core::ValidateName("endpoint", endpoint, "--endpoint-name"));
  if (!deployment.empty()) RETURN_IF_ERROR(core::ValidateName("deployment", deployment, "--name"));
  return absl::OkStatus();
}

}  // namespace

void AddLocalFlag(CLI::App* command, bool* local) {
  command->add_flag("--local", *local,
                    "Act on a local endpoint: run the deployment on this machine with no berthd "
                    "(state in $BERTH_LOCAL_DIR, default ~/.local/state/berth/local)");
}

// ---- online-endpoint ----------------------------------------------------------------------

absl::Status LocalEndpointCreate(Session& session, const json& doc, const std::string& spec_file,
                                 OutputFormat format) {
  absl::StatusOr<core::Parsed<core::EndpointSpec>> parsed = core::ParseEndpointSpec(doc);
  if (!parsed.ok()) return InFile(parsed.status(), spec_file);
  const core::EndpointSpec& spec = parsed->spec;
  LocalEndpointRecord record;
  record.spec = core::ToJson(spec);
  record.warnings = parsed->warnings;
  record.warnings.push_back(absl::StrCat("auth_mode ", core::AuthModeName(spec.auth_mode),
                                         " is not enforced: local endpoints have no "
                                         "authentication (as on Azure)"));
  if (!spec.traffic.empty() || !spec.mirror_traffic.empty()) {
    record.warnings.push_back(
        "traffic and mirror_traffic are ignored locally: the endpoint's one deployment gets "
        "every request");
  }
  record.created_at = record.updated_at = FormatTimestamp(session.env().clock->WallNow());
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  absl::Status created = store.CreateEndpoint(spec.name, record);
  if (absl::IsAlreadyExists(created)) {
    return absl::AlreadyExistsError(absl::StrCat("local endpoint ", spec.name,
                                                 " already exists (in ", store.root().string(),
                                                 "); delete it first with `berth online-endpoint "
                                                 "delete --local -n ",
                                                 spec.name, "`"));
  }
  RETURN_IF_ERROR(created);
  json view = EndpointView(record, nullptr);
  PrintWarnings(view, session.err());
  session.Print(view, format, ResourceKind::kEndpoint);
  return absl::OkStatus();
}

absl::Status LocalEndpointShow(Session& session, const std::string& name, OutputFormat format) {
  RETURN_IF_ERROR(CheckNames(name, ""));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  ASSIGN_OR_RETURN(LocalEndpointRecord record, store.ReadEndpoint(name));
  ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> deployment, store.ReadDeployment(name));
  session.Print(EndpointView(record, deployment ? &*deployment : nullptr), format,
                ResourceKind::kEndpoint);
  return absl::OkStatus();
}

absl::Status LocalEndpointList(Session& session, OutputFormat format) {
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  ASSIGN_OR_RETURN(std::vector<std::string> names, store.ListEndpoints());
  json value = json::array();
  for (const std::string& name : names) {
    absl::StatusOr<LocalEndpointRecord> record = store.ReadEndpoint(name);
    if (absl::IsNotFound(record.status())) continue;  // deleted meanwhile
    if (!record.ok()) return record.status();
    ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> deployment, store.ReadDeployment(name));
    value.push_back(EndpointView(*record, deployment ? &*deployment : nullptr));
  }
  session.Print(value, format, ResourceKind::kEndpoint);
  return absl::OkStatus();
}

absl::Status LocalEndpointDelete(Session& session, const std::string& name, bool yes) {
  RETURN_IF_ERROR(CheckNames(name, ""));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  RETURN_IF_ERROR(store.ReadEndpoint(name).status());
  RETURN_IF_ERROR(
      session.Confirm(absl::StrCat("Delete local endpoint ", name, " and its deployment?"), yes));
  ASSIGN_OR_RETURN(EndpointLock lock, store.Lock(name));
  ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> deployment, store.ReadDeployment(name));
  if (deployment) {
    RETURN_IF_ERROR(
        StopProcessGroup(deployment->process, kLocalStopGrace, MakeLocalStopEnv(session)));
  }
  return store.RemoveEndpoint(name);
}

absl::Status LocalEndpointInvoke(Session& session, const std::string& name,
                                 const std::string& request_file, const std::string& deployment) {
  ASSIGN_OR_RETURN(std::string body, ReadUserFile(request_file, kMaxRequestFileBytes));
  if (json::parse(body, nullptr, /*allow_exceptions=*/false).is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(request_file, ": not valid JSON"));
  }
  RETURN_IF_ERROR(CheckNames(name, ""));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  RETURN_IF_ERROR(store.ReadEndpoint(name).status());
  ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> record, store.ReadDeployment(name));
  if (!record) {
    return absl::FailedPreconditionError(
        absl::StrCat("local endpoint ", name,
                     " has no deployment; create one with `berth online-deployment "
                     "create --local`"));
  }
  if (!deployment.empty() && deployment != record->Name()) {
    return absl::NotFoundError(absl::StrCat("deployment ", deployment,
                                            " does not exist in local endpoint ", name,
                                            " (its deployment is ", record->Name(), ")"));
  }
  EffectiveState state = Effective(*record, name, ObserveLocal(session, *record));
  if (state.state != "Succeeded") {
    return absl::FailedPreconditionError(
        absl::StrCat("deployment ", record->Name(), " of local endpoint ", name, " is ",
                     state.state, state.reason.empty() ? "" : ": " + state.reason));
  }
  HttpUrl url{"127.0.0.1", std::to_string(record->port), record->scoring_path};
  HttpRequest request;
  request.method = "POST";
  request.target = record->scoring_path;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = std::move(body);
  request.timeout = kScoringTimeout;
  ASSIGN_OR_RETURN(HttpResponse response, SendHttp(url, request));
  std::ostream& stream =
      response.status >= 200 && response.status < 300 ? session.out() : session.err();
  stream << response.body;
  if (response.body.empty() || response.body.back() != '\n') stream << "\n";
  stream << std::flush;
  if (response.status >= 200 && response.status < 300) return absl::OkStatus();
  return absl::Status(StatusFromResponse(response).code(),
                      absl::StrCat("scoring request failed with HTTP ", response.status));
}

// ---- online-deployment --------------------------------------------------------------------

absl::Status LocalDeploymentCreate(Session& session, const LocalDeploymentWrite& w) {
  RETURN_IF_ERROR(CheckNames(w.endpoint, w.name));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  RETURN_IF_ERROR(store.ReadEndpoint(w.endpoint).status());
  json doc = w.doc;
  doc["name"] = w.name;
  doc["endpoint_name"] = w.endpoint;
  ASSIGN_OR_RETURN(PreparedDeployment prepared,
                   PrepareLocalDeployment(doc, doc, w.spec_file, LocalSources{}));
  return DeployLocal(session, w, prepared, std::nullopt);
}

absl::Status LocalDeploymentUpdate(Session& session, const LocalDeploymentWrite& w) {
  RETURN_IF_ERROR(CheckNames(w.endpoint, w.name));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  ASSIGN_OR_RETURN(LocalDeploymentRecord current, FindLocalDeployment(store, w.endpoint, w.name));
  if (w.doc.empty()) {
    // Only --all-traffic: the one deployment of a local endpoint has all of it already.
    session.Print(LocalViewOf(session, store, w.endpoint, current), w.format,
                  ResourceKind::kDeployment);
    return absl::OkStatus();
  }
  json merged = core::MergeSpec(current.spec, w.doc);
  merged["name"] = w.name;
  merged["endpoint_name"] = w.endpoint;
  ASSIGN_OR_RETURN(PreparedDeployment prepared,
                   PrepareLocalDeployment(merged, w.doc, w.spec_file,
                                          LocalSources{current.model_source, current.code_source}));
  return DeployLocal(session, w, prepared, std::move(current));
}

absl::Status LocalDeploymentShow(Session& session, const std::string& endpoint,
                                 const std::string& name, OutputFormat format) {
  RETURN_IF_ERROR(CheckNames(endpoint, name));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  ASSIGN_OR_RETURN(LocalDeploymentRecord record, FindLocalDeployment(store, endpoint, name));
  session.Print(LocalViewOf(session, store, endpoint, record), format, ResourceKind::kDeployment);
  return absl::OkStatus();
}

absl::Status LocalDeploymentList(Session& session, const std::string& endpoint,
                                 OutputFormat format) {
  RETURN_IF_ERROR(CheckNames(endpoint, ""));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  RETURN_IF_ERROR(store.ReadEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> record, store.ReadDeployment(endpoint));
  json value = json::array();
  if (record) value.push_back(LocalViewOf(session, store, endpoint, *record));
  session.Print(value, format, ResourceKind::kDeployment);
  return absl::OkStatus();
}

absl::Status LocalDeploymentDelete(Session& session, const std::string& endpoint,
                                   const std::string& name, bool yes) {
  RETURN_IF_ERROR(CheckNames(endpoint, name));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  RETURN_IF_ERROR(FindLocalDeployment(store, endpoint, name).status());
  RETURN_IF_ERROR(session.Confirm(
      absl::StrCat("Delete local deployment ", name, " of endpoint ", endpoint, "?"), yes));
  ASSIGN_OR_RETURN(EndpointLock lock, store.Lock(endpoint));
  ASSIGN_OR_RETURN(LocalDeploymentRecord record, FindLocalDeployment(store, endpoint, name));
  RETURN_IF_ERROR(StopProcessGroup(record.process, kLocalStopGrace, MakeLocalStopEnv(session)));
  return store.RemoveDeployment(endpoint);
}

absl::Status LocalDeploymentGetLogs(Session& session, const std::string& endpoint,
                                    const std::string& name, int lines) {
  RETURN_IF_ERROR(CheckNames(endpoint, name));
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  RETURN_IF_ERROR(FindLocalDeployment(store, endpoint, name).status());
  std::string text = compute::TailLog(store.LogFile(endpoint), lines);
  session.out() << text;
  if (!text.empty() && text.back() != '\n') session.out() << "\n";
  session.out() << std::flush;
  return absl::OkStatus();
}

}  // namespace berth::cli
