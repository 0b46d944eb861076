#include "cli/command_support.h"

#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/local_daemon.h"
#include "common/errors.h"
#include "common/install_paths.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

constexpr char kUsageErrorUrl[] = "berth.dev/cli-usage-error";

std::string HumanSize(size_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (bytes < 1024 * 1024) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  if (bytes < 1024ull * 1024 * 1024) return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024));
  return absl::StrFormat("%.2f GiB", bytes / (1024.0 * 1024 * 1024));
}

}  // namespace

absl::Status UsageError(std::string message) {
  absl::Status status = absl::InvalidArgumentError(std::move(message));
  status.SetPayload(kUsageErrorUrl, absl::Cord("1"));
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsageErrorUrl).has_value();
}

absl::StatusOr<ApiClient*> Session::Client() {
  if (client_ == nullptr) {
    ClientConfig config;
    if (globals_.local) {
      ASSIGN_OR_RETURN(LocalDaemonSettings settings, LocalSettings());
      ASSIGN_OR_RETURN(config, EnsureLocalDaemon(settings, MakeDaemonWaitEnv()));
    } else {
      ASSIGN_OR_RETURN(
          config,
          ResolveConfig(env_.env, ConfigOverrides{globals_.url, globals_.token}, env_.packaged));
    }
    ASSIGN_OR_RETURN(ApiClient client, ApiClient::Create(config));
    client_ = std::make_unique<ApiClient>(std::move(client));
  }
  return client_.get();
}

absl::Status Session::Print(const nlohmann::json& value, ResourceKind kind) {
  if (!globals_.query) {
    out() << Render(value, kind, globals_.render) << std::flush;
    return absl::OkStatus();
  }
  absl::StatusOr<nlohmann::ordered_json> result =
      globals_.query->Search(nlohmann::ordered_json(value));
  if (!result.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--query ", globals_.query->text(), ": ", result.status().message()));
  }
  out() << RenderQueryResult(*result, globals_.render) << std::flush;
  return absl::OkStatus();
}

absl::Status Session::PrintText(const std::string& text) {
  if (globals_.output_given) return Print(nlohmann::json(text), ResourceKind::kOther);
  out() << text;
  if (!text.empty() && text.back() != '\n') out() << "\n";
  out() << std::flush;
  return absl::OkStatus();
}

absl::Status Session::Confirm(const std::string& question, bool yes) {
  if (yes) return absl::OkStatus();
  if (!env_.stdin_is_tty || env_.in == nullptr) {
    return UsageError("confirmation needed but stdin is not a terminal; pass --yes to confirm");
  }
  err() << question << " (y/n): " << std::flush;
  std::string answer;
  std::getline(*env_.in, answer);
  answer = absl::AsciiStrToLower(absl::StripAsciiWhitespace(answer));
  if (answer == "y" || answer == "yes") return absl::OkStatus();
  return absl::CancelledError("cancelled; nothing was deleted");
}

WaitEnv Session::MakeWaitEnv() const {
  WaitEnv wait;
  wait.clock = env_.clock;
  wait.sleep =
      env_.sleep ? env_.sleep : [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  wait.interval = env_.poll_interval;
  wait.progress = env_.err;
  wait.live = env_.stderr_is_tty;
  return wait;
}

absl::StatusOr<LocalDaemonSettings> Session::LocalSettings() const {
  std::filesystem::path self =
      env_.self_exe.empty() ? SelfExecutable() : std::filesystem::path(env_.self_exe);
  return ResolveLocalDaemonSettings(env_.env, env_.python, ResolveInstallPaths(self));
}

DaemonWaitEnv Session::MakeDaemonWaitEnv() const {
  DaemonWaitEnv wait;
  wait.clock = env_.clock;
  wait.sleep =
      env_.sleep ? env_.sleep : [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  wait.progress = env_.err;
  return wait;
}

void AddLocalFlag(CLI::App* command) {
  // Const, so that CLI11 takes it as the description rather than as the flag's variable.
  const std::string description =
      "Use the local berthd: a per-user berthd on loopback that scores without credentials, "
      "started on first use (data in $BERTH_LOCAL_DIR, default ~/.local/state/berth/local; "
      "`berth local-daemon stop` stops it)";
  command->add_flag(kLocalFlag, description);
}

void AddYesFlag(CLI::App* command, bool& yes) {
  command->add_flag("-y,--yes", yes, "Do not ask for confirmation (required without a terminal)");
}

void WaitOptions::Add(CLI::App* command, const std::string& what) {
  command->add_flag("--no-wait", no_wait,
                    "Return once berthd accepted the request instead of waiting until " + what);
  command
      ->add_option("--timeout", timeout_s,
                   "Seconds to wait before giving up (the operation goes on in berthd)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void SpecOptions::Add(CLI::App* command, bool file_required, const std::string& kind) {
  auto* option = command->add_option("-f,--file", file,
                                     "YAML file with the " + kind +
                                         " (Azure ML schema); relative paths in it are resolved "
                                         "against the file's folder");
  if (file_required) option->required();
  update.Add(command);
}

SpecInput SpecOptions::ToInput(std::function<absl::StatusOr<nlohmann::json>()> current) const {
  SpecInput input;
  if (!file.empty()) input.file = file;
  input.set_assignments = update.set;
  input.add_remove = update.add_remove;
  input.current = std::move(current);
  return input;
}

void GenericUpdateOptions::Add(CLI::App* command) {
  command->add_option("--set", set,
                      "Set a field: path=value, e.g. --set instance_count=2 "
                      "request_settings.request_timeout_ms=10000 (repeatable; values are YAML "
                      "scalars or flow collections; applied over the file)");
  command
      ->add_option("--add", add_remove.add,
                   "Append to a list: <path> <value>, the value JSON, key=value pairs forming "
                   "one object, or a string (repeatable; after --set)")
      ->expected(2, CLI::detail::expected_max_vector_size)
      ->type_name("PATH VALUE...");
  command
      ->add_option("--remove", add_remove.remove,
                   "Remove a field, or a list's element: <path> [<index>] (repeatable; after "
                   "--add)")
      ->expected(1, 2)
      ->type_name("PATH [INDEX]");
}

namespace {

absl::StatusOr<int> UploadWithProgress(Session& session,
                                       const std::vector<DocumentArtifact>& artifacts) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ApiArtifactStore store(*client);
  return UploadArtifacts(artifacts, store, [&session](const DocumentArtifact& artifact) {
    session.err() << "Uploading " << artifact.field << " " << artifact.packed.base_name << " ("
                  << HumanSize(artifact.packed.tar.size()) << ")\n"
                  << std::flush;
  });
}

}  // namespace

absl::Status PrepareArtifacts(Session& session, nlohmann::json& doc, const std::string& spec_file,
                              const std::function<absl::Status()>& validate) {
  std::filesystem::path base = std::filesystem::path(spec_file).parent_path();
  if (base.empty()) base = ".";
  ASSIGN_OR_RETURN(std::vector<DocumentArtifact> artifacts,
                   PackDocumentArtifacts(doc, base, spec_file));
  if (validate) RETURN_IF_ERROR(validate());
  if (artifacts.empty()) return absl::OkStatus();
  return UploadWithProgress(session, artifacts).status();
}

absl::StatusOr<nlohmann::json> UploadLocalPath(Session& session, const std::string& written,
                                               const std::string& spec_file,
                                               const std::string& field) {
  // As in Azure's YAML, a relative path is relative to the file; without one, to the working
  // directory.
  const std::filesystem::path base = std::filesystem::path(spec_file).parent_path();
  const std::filesystem::path resolved =
      std::filesystem::path(written).is_absolute() || base.empty() ? std::filesystem::path(written)
                                                                   : base / written;
  absl::StatusOr<PackedArtifact> packed = PackArtifact(resolved);
  if (!packed.ok()) {
    return InSpecFile(InvalidField(field, std::string(packed.status().message())), spec_file);
  }
  nlohmann::json reference = ArtifactJson(*packed);
  RETURN_IF_ERROR(
      UploadWithProgress(session, {DocumentArtifact{field, *std::move(packed)}}).status());
  return reference;
}

std::function<absl::StatusOr<nlohmann::json>()> CurrentResource(Session& session,
                                                                std::string path) {
  return [&session, path = std::move(path)]() -> absl::StatusOr<nlohmann::json> {
    ASSIGN_OR_RETURN(ApiClient * client, session.Client());
    return client->Get(path);
  };
}

absl::Status PrintResource(Session& session, const std::string& path, ResourceKind kind) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(nlohmann::json resource, client->Get(path));
  return session.Print(resource, kind);
}

absl::Status PrintList(Session& session, const std::string& path, ResourceKind kind) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(nlohmann::json items, client->ListAll(path));
  return session.Print(items, kind);
}

absl::Status ConfirmAndDelete(Session& session, const std::string& question,
                              const std::string& path, const std::string& done, bool yes) {
  RETURN_IF_ERROR(session.Confirm(question, yes));
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  RETURN_IF_ERROR(client->Delete(path).status());
  session.err() << done << "\n" << std::flush;
  return absl::OkStatus();
}

absl::StatusOr<DeploymentTarget> BuildDeploymentTarget(
    const std::string& name, const std::string& endpoint, const SpecOptions& spec, bool partial,
    std::function<absl::StatusOr<nlohmann::json>()> current) {
  SpecInput input = spec.ToInput(std::move(current));
  // A partial update carries only what changes; a full document names itself.
  if (!partial || input.file) {
    if (!name.empty()) input.overrides.emplace_back("name", name);
    if (!endpoint.empty()) input.overrides.emplace_back("endpoint_name", endpoint);
  }
  ASSIGN_OR_RETURN(nlohmann::json doc, BuildSpecDocument(input));
  DeploymentTarget target{std::move(doc), name, endpoint};
  if (target.name.empty()) target.name = StringField(target.doc, "name");
  if (target.endpoint.empty()) target.endpoint = StringField(target.doc, "endpoint_name");
  if (target.name.empty()) {
    return UsageError("a deployment name is required: pass --name or set `name` in the file");
  }
  if (target.endpoint.empty()) {
    return UsageError(
        "an endpoint name is required: pass --endpoint-name or set `endpoint_name` in the file");
  }
  return target;
}

void AddDeploymentNames(CLI::App* command, std::string& name, std::string& endpoint,
                        bool required) {
  auto* n = command->add_option(
      "-n,--name", name, required ? "Deployment name" : "Deployment name (wins over the file)");
  auto* e = command->add_option(
      "-e,--endpoint-name,--endpoint", endpoint,
      required ? "Endpoint name" : "Endpoint name (wins over `endpoint_name` in the file)");
  if (required) {
    n->required();
    e->required();
  }
}

std::string AssetVersionPath(const std::string& collection, const std::string& name,
                             const std::string& version) {
  return absl::StrCat(collection, "/", EncodeComponent(name), "/versions/",
                      EncodeComponent(version));
}

absl::Status RegisterAssetVersion(Session& session, const std::string& collection,
                                  const nlohmann::json& doc, const std::string& asset,
                                  const std::string& spec_file, ResourceKind kind) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  absl::StatusOr<nlohmann::json> answer = client->Post(collection, doc, /*create=*/true);
  const std::string version = StringField(doc, "version");
  if (absl::IsAlreadyExists(answer.status()) && !version.empty()) {
    return absl::AlreadyExistsError(
        absl::StrCat(asset, " ", StringField(doc, "name"), " version ", version,
                     " already exists; give another --version, or none to register the next one"));
  }
  if (!answer.ok()) return InSpecFile(answer.status(), spec_file);
  return session.Print(*answer, kind);
}

absl::Status ListAssetVersions(Session& session, const std::string& collection,
                               const std::string& name, ResourceKind kind) {
  std::string path = collection;
  if (!name.empty()) absl::StrAppend(&path, "?name=", EncodeComponent(name));
  return PrintList(session, path, kind);
}

namespace {

constexpr char kLatestLabel[] = "latest";

absl::Status ShowAssetVersion(Session& session, const AssetShowOptions& o) {
  if (o.version.empty() == o.label.empty()) {
    return UsageError("give either --version or --label latest");
  }
  return PrintResource(
      session, AssetVersionPath(o.collection, o.name, o.version.empty() ? kLatestLabel : o.version),
      o.kind);
}

}  // namespace

void AddAssetShowCommand(CLI::App* group, Action* action, const std::string& collection,
                         ResourceKind kind, const std::string& asset) {
  CLI::App* c = group->add_subcommand("show", "Show a " + asset + " version");
  auto o = Bind(c, action, &ShowAssetVersion);
  o->collection = collection;
  o->kind = kind;
  c->add_option("-n,--name", o->name, "Name of the " + asset)->required();
  auto* version = c->add_option("-v,--version", o->version, "Version");
  c->add_option("-l,--label", o->label,
                "`latest`: the newest version (of data: the newest not archived)")
      ->check(CLI::IsMember({kLatestLabel}))
      ->excludes(version);
  AddLocalFlag(c);
}

absl::StatusOr<nlohmann::json> FinishWrite(Session& session, const nlohmann::json& answer,
                                           const std::string& item_path, WaitSpec spec,
                                           const WaitOptions& wait) {
  // A delete answers with the resource as it was; its spec warnings are no news then.
  if (!spec.until_gone) PrintWarnings(answer, session.err());
  if (wait.no_wait) return answer;
  spec.timeout = std::chrono::seconds(wait.timeout_s);
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  return WaitForResource([client, &item_path] { return client->Get(item_path); }, spec,
                         session.MakeWaitEnv());
}

std::string EndpointPath(const std::string& endpoint) {
  return "/online-endpoints/" + EncodeComponent(endpoint);
}

std::string DeploymentPath(const std::string& endpoint, const std::string& deployment) {
  return EndpointPath(endpoint) + "/deployments/" + EncodeComponent(deployment);
}

std::string BatchEndpointPath(const std::string& endpoint) {
  return "/batch-endpoints/" + EncodeComponent(endpoint);
}

std::string BatchDeploymentPath(const std::string& endpoint, const std::string& deployment) {
  return BatchEndpointPath(endpoint) + "/deployments/" + EncodeComponent(deployment);
}

std::string JobPath(const std::string& job) { return "/jobs/" + EncodeComponent(job); }

absl::Status SendDocument(Session& session, const std::string& method, const std::string& path,
                          const nlohmann::json& doc, const std::string& spec_file,
                          ResourceKind kind) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  absl::StatusOr<nlohmann::json> answer =
      method == "PATCH" ? client->Patch(path, doc) : client->Put(path, doc);
  if (!answer.ok()) return InSpecFile(answer.status(), spec_file);
  PrintWarnings(*answer, session.err());
  return session.Print(*answer, kind);
}

std::string StringField(const nlohmann::json& doc, const char* key) {
  if (!doc.is_object()) return "";
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

absl::Status InSpecFile(const absl::Status& status, const std::string& spec_file) {
  if (spec_file.empty() || !absl::IsInvalidArgument(status)) return status;
  return Annotate(status, spec_file);
}

}  // namespace berth::cli
