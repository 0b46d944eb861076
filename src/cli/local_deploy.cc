#include "cli/local_deploy.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "compute/compute_driver.h"
#include "compute/local/spawn.h"
#include "core/launch_plan.h"
#include "core/mlflow_flavor.h"
#include "core/spec_json.h"
#include "worker/model_repository.h"

namespace berth::cli {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

// The longest a start may take, whatever the readiness probe allows.
constexpr int kMaxStartupS = 600;
// Log lines appended to the reason of a start that failed.
constexpr int kReasonLogLines = 30;
// A view's one readiness check of a deployment still starting.
constexpr milliseconds kViewProbeTimeout{1000};

std::string Now(Session& session) { return FormatTimestamp(session.env().clock->WallNow()); }

std::string EnvOr(Session& session, const char* name, const std::string& fallback) {
  std::optional<std::string> value = session.env().env(name);
  return value && !value->empty() ? *value : fallback;
}

// True when GET <path> on the deployment's port answers 2xx or 3xx.
bool ProbeReady(int port, const std::string& path, milliseconds timeout) {
  HttpUrl url{"127.0.0.1", std::to_string(port), path};
  HttpRequest request;
  request.target = path;
  request.timeout = timeout;
  absl::StatusOr<HttpResponse> response = SendHttp(url, request, timeout);
  return response.ok() && response->status >= 200 && response->status < 400;
}

absl::Status InFile(const absl::Status& status, const std::string& spec_file) {
  return spec_file.empty() ? status : Annotate(status, spec_file);
}

bool IsReference(const std::string& path) {
  return absl::StartsWith(path, "azureml:") || path.find("://") != std::string::npos;
}

// `doc[section][key]` when it is a string, else nullopt.
std::optional<std::string> PathField(const json& doc, const char* section, const char* key) {
  auto it = doc.find(section);
  if (it == doc.end() || !it->is_object()) return std::nullopt;
  auto field = it->find(key);
  if (field == it->end() || !field->is_string()) return std::nullopt;
  return field->get<std::string>();
}

// A path of the document, absolute, relative to the spec file's folder (else the working
// directory), without a trailing '/'. It must exist.
absl::StatusOr<std::string> ResolveSource(const std::string& written, const char* field,
                                          const std::string& spec_file) {
  if (IsReference(written)) {
    return InvalidField(field, absl::StrCat("'", written,
                                            "' is not a local path; local deployments take "
                                            "local files only (as Azure's --local)"));
  }
  fs::path base = fs::path(spec_file).parent_path();
  std::error_code ec;
  fs::path path = fs::path(written).is_absolute() ? fs::path(written) : base / written;
  path = fs::absolute(path, ec).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();
  if (!fs::exists(fs::symlink_status(path, ec))) {
    return InvalidField(field, absl::StrCat("no such file or folder: ", path.string()));
  }
  return path.string();
}

// The staged copies of a deployment's files.
struct Staged {
  fs::path dir;           // the staging folder (app/ and models/ inside)
  std::string model_dir;  // AZUREML_MODEL_DIR once in place ("" without a model)
  std::string mlflow_folder;
};

absl::StatusOr<Staged> Stage(const LocalStore& store, const std::string& endpoint,
                             const PreparedDeployment& p) {
  ASSIGN_OR_RETURN(fs::path dir, store.MakeStagingDir(endpoint));
  Staged staged{dir, "", ""};
  auto fail = [&dir](const absl::Status& status) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    return status;
  };
  std::error_code ec;
  if (p.spec.code_configuration) {
    fs::path source(p.sources.code);
    fs::path target = fs::is_directory(source, ec) ? dir / "app" : dir / "app" / source.filename();
    absl::Status copied = CopyLocalTree(source, target);
    if (!copied.ok()) return fail(Annotate(copied, "code_configuration.code"));
  }
  fs::create_directories(dir / "app", ec);
  fs::create_directories(dir / "models", ec);
  if (p.spec.model) {
    const core::ModelSpec& model = *p.spec.model;
    fs::path source(p.sources.model);
    fs::path relative = fs::path(model.name) / model.version;
    absl::Status copied = CopyLocalTree(source, dir / "models" / relative / source.filename());
    if (!copied.ok()) return fail(Annotate(copied, "model.path"));
    fs::path final_dir = store.ModelsDir(endpoint) / relative;
    staged.model_dir = final_dir.string() + "/";
    if (core::ServingKindOf(p.spec) == core::ServingKind::kMlflow) {
      // As on the server: the folder inside AZUREML_MODEL_DIR that holds the MLmodel file.
      std::string folder = fs::is_directory(source, ec) ? source.filename().string() : "";
      if (!fs::exists(dir / "models" / relative / folder / "MLmodel", ec)) {
        return fail(absl::FailedPreconditionError(absl::StrCat(
            "the model has no MLmodel file at ", (final_dir / folder / "MLmodel").string(),
            ": a deployment without environment.command or code_configuration serves an MLflow "
            "model")));
      }
      staged.mlflow_folder = folder;
    }
  }
  return staged;
}

// Replaces app/ and models/ with the staged ones.
absl::Status Install(const LocalStore& store, const std::string& endpoint, const Staged& staged) {
  std::error_code ec;
  for (const char* sub : {"app", "models"}) {
    fs::path target = store.EndpointDir(endpoint) / sub;
    fs::remove_all(target, ec);
    fs::rename(staged.dir / sub, target, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot place ", target.string(), ": ", ec.message()));
    }
  }
  fs::remove_all(staged.dir, ec);
  return absl::OkStatus();
}

void AppendLog(const fs::path& file, const std::string& line) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  std::ofstream(file, std::ios::app) << line << "\n";
}

std::string WithLogTail(std::string reason, const fs::path& log_file) {
  std::string tail = compute::TailLog(log_file, kReasonLogLines);
  if (!tail.empty()) absl::StrAppend(&reason, ". Last log lines:\n", tail);
  return reason;
}

// Starts the process of a staged deployment (app/ and models/ in place) and fills `record`'s
// process, port and state. A process that cannot start leaves `record` Failed.
void Launch(Session& session, const LocalStore& store, const std::string& endpoint,
            const PreparedDeployment& p, const Staged& staged, LocalDeploymentRecord& record) {
  const fs::path log_file = store.LogFile(endpoint);
  record.process = {};
  record.port = 0;
  record.started_at = Now(session);
  // Each start begins a fresh log, as a new container does on Azure.
  std::error_code ec;
  fs::remove(log_file, ec);
  auto fail = [&](const std::string& reason) {
    AppendLog(log_file, "berth: " + reason);
    record.state = "Failed";
    record.reason = WithLogTail(reason, log_file);
  };
  absl::StatusOr<int> port = compute::PickFreePort();
  if (!port.ok()) return fail("no free port: " + std::string(port.status().message()));
  core::LaunchInputs inputs;
  inputs.port = *port;
  inputs.app_dir = store.AppDir(endpoint).string();
  inputs.model_dir = staged.model_dir;
  inputs.mlflow_folder = staged.mlflow_folder;
  inputs.python = EnvOr(session, "BERTH_PYTHON", session.env().python);
  inputs.python_dir = EnvOr(session, "BERTH_PYTHON_DIR", session.env().python_dir);
  inputs.endpoint = endpoint;
  inputs.deployment = p.spec.name;
  inputs.instance = "1";
  inputs.native_mlflow = core::ServingKindOf(p.spec) == core::ServingKind::kMlflow &&
                         core::IsNativeMlflow(fs::path(staged.model_dir) / staged.mlflow_folder);
  if (core::ServedByWorker(p.spec, inputs.native_mlflow)) {
    // berth-worker sits next to the CLI (BERTH_WORKER overrides); its gRPC port is local too.
    absl::StatusOr<int> grpc_port = compute::PickFreePort();
    if (!grpc_port.ok()) return fail("no free port: " + std::string(grpc_port.status().message()));
    inputs.grpc_port = *grpc_port;
    std::error_code self_ec;
    fs::path self = fs::read_symlink("/proc/self/exe", self_ec);
    inputs.worker = EnvOr(session, "BERTH_WORKER", (self.parent_path() / "berth-worker").string());
  }
  core::LaunchPlan plan = core::PlanLaunch(p.spec, inputs);
  compute::LaunchSpec launch;
  launch.instance_key = absl::StrCat(endpoint, "/", p.spec.name, "/1");
  launch.argv = std::move(plan.argv);
  launch.env = std::move(plan.env);
  launch.working_dir = store.AppDir(endpoint);
  launch.log_file = log_file;
  AppendLog(log_file,
            absl::StrCat("berth: starting local deployment ", p.spec.name, " on port ", *port));
  absl::StatusOr<compute::local::SpawnPlan> spawn = compute::local::PrepareSpawn(launch);
  if (!spawn.ok()) return fail(std::string(spawn.status().message()));
  absl::StatusOr<ProcessIdentity> process = StartDetached(*spawn, log_file);
  if (!process.ok()) {
    record.state = "Failed";
    record.reason = WithLogTail(std::string(process.status().message()), log_file);
    return;
  }
  record.process = *process;
  record.port = *port;
}

// Polls until the readiness route answers, the process ends, or `limit` passes. Returns "" when
// ready, else why not.
std::string WaitReady(Session& session, const LocalDeploymentRecord& record, seconds limit,
                      milliseconds probe_timeout) {
  WaitEnv wait = session.MakeWaitEnv();
  const SteadyTime deadline = wait.clock->Now() + limit;
  while (true) {
    ProcessStatus process = CheckProcess(record.process);
    if (!process.running)
      return absl::StrCat("instance 1 ", process.exit_text, " before it was ready");
    if (ProbeReady(record.port, record.readiness_path, probe_timeout)) return "";
    if (wait.clock->Now() >= deadline) {
      return absl::StrCat("instance 1 was not ready after ", limit.count(),
                          " s (readiness_probe initial_delay + period x failure_threshold)");
    }
    wait.sleep(wait.interval);
  }
}

}  // namespace

absl::StatusOr<LocalStore> OpenLocalStore(Session& session) {
  ASSIGN_OR_RETURN(fs::path root, LocalStateRoot(session.env().env));
  return LocalStore(std::move(root));
}

StopEnv MakeLocalStopEnv(Session& session) {
  WaitEnv wait = session.MakeWaitEnv();
  StopEnv stop;
  stop.clock = wait.clock;
  stop.sleep = wait.sleep;
  stop.interval = std::min(wait.interval, milliseconds(50));
  return stop;
}

LocalObservation ObserveLocal(Session& session, const LocalDeploymentRecord& record) {
  LocalObservation observed;
  ProcessStatus process = CheckProcess(record.process);
  observed.running = process.running;
  observed.exit_text = process.exit_text;
  observed.ready = process.running && record.state != "Succeeded" && record.state != "Failed" &&
                   ProbeReady(record.port, record.readiness_path, kViewProbeTimeout);
  observed.now = session.env().clock->WallNow();
  return observed;
}

absl::StatusOr<LocalDeploymentRecord> FindLocalDeployment(const LocalStore& store,
                                                          const std::string& endpoint,
                                                          const std::string& name) {
  RETURN_IF_ERROR(store.ReadEndpoint(endpoint).status());
  ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> record, store.ReadDeployment(endpoint));
  if (!record || record->Name() != name) {
    return absl::NotFoundError(
        absl::StrCat("deployment ", name, " does not exist in local endpoint ", endpoint,
                     record ? absl::StrCat(" (its deployment is ", record->Name(), ")") : ""));
  }
  return *std::move(record);
}

json LocalViewOf(Session& session, const LocalStore& store, const std::string& endpoint,
                 const LocalDeploymentRecord& record) {
  return DeploymentView(record, endpoint, store.LogFile(endpoint), ObserveLocal(session, record));
}

// Validates `doc` (the complete spec). The sources are the paths `fresh` names (the file or
// --set given now), else `previous` (what an update started from).
absl::StatusOr<PreparedDeployment> PrepareLocalDeployment(const json& doc, const json& fresh,
                                                          const std::string& spec_file,
                                                          const LocalSources& previous) {
  if (auto model = doc.find("model"); model != doc.end() && model->is_string()) {
    return InFile(InvalidField("model", absl::StrCat("'", model->get<std::string>(),
                                                     "' is a registered model; local "
                                                     "deployments take local files only (as "
                                                     "Azure's --local): give model.path")),
                  spec_file);
  }
  core::DeploymentParseOptions options;
  options.allow_local_paths = true;
  absl::StatusOr<core::Parsed<core::DeploymentSpec>> parsed =
      core::ParseDeploymentSpec(doc, options);
  if (!parsed.ok()) return InFile(parsed.status(), spec_file);
  PreparedDeployment out{std::move(parsed->spec), std::move(parsed->warnings), {}};
  const core::DeploymentSpec& spec = out.spec;
  if (spec.model) {
    if (std::optional<std::string> path = PathField(fresh, "model", "path")) {
      absl::StatusOr<std::string> source = ResolveSource(*path, "model.path", spec_file);
      if (!source.ok()) return InFile(source.status(), spec_file);
      out.sources.model = *source;
    } else {
      out.sources.model = previous.model;
    }
  }
  if (spec.code_configuration) {
    if (std::optional<std::string> code = PathField(fresh, "code_configuration", "code")) {
      absl::StatusOr<std::string> source =
          ResolveSource(*code, "code_configuration.code", spec_file);
      if (!source.ok()) return InFile(source.status(), spec_file);
      out.sources.code = *source;
    } else {
      out.sources.code = previous.code;
    }
  }
  if (spec.model && out.sources.model.empty()) {
    return InFile(InvalidField("model.path", "required: the local model folder or file"),
                  spec_file);
  }
  if (spec.code_configuration && out.sources.code.empty()) {
    return InFile(InvalidField("code_configuration.code", "required: the local code folder"),
                  spec_file);
  }
  if (!spec.environment.conda_file.empty()) {
    // The parser's note is about berthd, which checks the file's content; --local does not.
    std::erase_if(out.warnings, [](const std::string& warning) {
      return absl::StartsWith(warning, "environment.conda_file:");
    });
    out.warnings.push_back(
        "environment.conda_file: not checked by --local; its packages must be installed for the "
        "interpreter that runs the deployment");
  }
  if (spec.instance_count > 1) {
    out.warnings.push_back(absl::StrCat("instance_count ", spec.instance_count,
                                        ": a local deployment runs one instance"));
  }
  if (core::ServingKindOf(spec) == core::ServingKind::kTritonModel) {
    auto found = worker::CheckRepository(out.sources.model);
    if (!found.ok()) {
      return InFile(InvalidField("model.path", std::string(found.status().message())), spec_file);
    }
    out.warnings.insert(out.warnings.end(), found->begin(), found->end());
  }
  return out;
}

// Create and update: stages the files, (re)starts the process, waits unless --no-wait, prints.
absl::Status DeployLocal(Session& session, const LocalDeploymentWrite& w,
                         const PreparedDeployment& p,
                         std::optional<LocalDeploymentRecord> previous) {
  ASSIGN_OR_RETURN(LocalStore store, OpenLocalStore(session));
  const bool update = previous.has_value();
  const std::string action = update ? "Updating" : "Creating";
  const core::ProbeSettings& probe = p.spec.readiness_probe;
  const int startup_s =
      std::min(kMaxStartupS, probe.initial_delay_s + probe.period_s * probe.failure_threshold);
  LocalDeploymentRecord record;
  {
    ASSIGN_OR_RETURN(EndpointLock lock, store.Lock(w.endpoint));
    ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> current,
                     store.ReadDeployment(w.endpoint));
    if (!update && current) {
      if (current->Name() == w.name) {
        return absl::AlreadyExistsError(
            absl::StrCat("deployment ", w.name, " already exists in local endpoint ", w.endpoint,
                         "; use `berth online-deployment update --local` to change it"));
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "local endpoint ", w.endpoint, " already has deployment ", current->Name(),
          "; a local endpoint runs one deployment (as Azure's --local): delete it first or use "
          "another local endpoint"));
    }
    if (update && (!current || current->process != previous->process)) {
      return absl::AbortedError(
          absl::StrCat("deployment ", w.name, " changed while this command ran; try again"));
    }
    ASSIGN_OR_RETURN(Staged staged, Stage(store, w.endpoint, p));
    if (update) {
      absl::Status stopped =
          StopProcessGroup(previous->process, kLocalStopGrace, MakeLocalStopEnv(session));
      if (!stopped.ok()) {
        std::error_code ec;
        fs::remove_all(staged.dir, ec);
        return stopped;
      }
    }
    RETURN_IF_ERROR(Install(store, w.endpoint, staged));
    record.spec = core::ToJson(p.spec);
    record.model_source = p.sources.model;
    record.code_source = p.sources.code;
    record.model_dir = staged.model_dir;
    record.state = action;
    record.warnings = p.warnings;
    const core::ServingRoutes routes = core::RoutesFor(p.spec);
    record.readiness_path = routes.readiness_path;
    record.scoring_path = routes.scoring_path;
    record.swagger_path = routes.swagger_path;
    record.startup_timeout_s = startup_s;
    record.created_at = update ? previous->created_at : Now(session);
    record.updated_at = Now(session);
    Launch(session, store, w.endpoint, p, staged, record);
    RETURN_IF_ERROR(store.WriteDeployment(w.endpoint, record));
  }
  PrintWarnings(json{{"warnings", record.warnings}}, session.err());
  if (record.state == "Failed") {
    return absl::FailedPreconditionError(
        absl::StrCat("deployment ", w.name, " failed: ", record.reason));
  }
  if (!w.no_wait) {
    session.err() << action << " local deployment " << w.name << " of endpoint " << w.endpoint
                  << " on port " << record.port << " (logs: berth online-deployment get-logs "
                  << "--local -e " << w.endpoint << " -n " << w.name << ")\n"
                  << std::flush;
    const seconds limit(std::min(startup_s, std::max(1, w.timeout_s)));
    std::string failure = WaitReady(session, record, limit, seconds(std::max(1, probe.timeout_s)));
    if (!failure.empty()) {
      // Stopped before anything is recorded: a failed start leaves no process behind.
      RETURN_IF_ERROR(StopProcessGroup(record.process, kLocalStopGrace, MakeLocalStopEnv(session)));
    }
    ASSIGN_OR_RETURN(EndpointLock lock, store.Lock(w.endpoint));
    ASSIGN_OR_RETURN(std::optional<LocalDeploymentRecord> current,
                     store.ReadDeployment(w.endpoint));
    if (!current || current->process != record.process) {
      return absl::AbortedError(
          absl::StrCat("deployment ", w.name, " was changed by another command meanwhile"));
    }
    record.state = failure.empty() ? "Succeeded" : "Failed";
    record.reason = failure.empty() ? "" : WithLogTail(failure, store.LogFile(w.endpoint));
    record.updated_at = Now(session);
    RETURN_IF_ERROR(store.WriteDeployment(w.endpoint, record));
    if (!failure.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("deployment ", w.name, " failed: ", record.reason));
    }
  }
  session.Print(LocalViewOf(session, store, w.endpoint, record), w.format,
                ResourceKind::kDeployment);
  return absl::OkStatus();
}

}  // namespace berth::cli
