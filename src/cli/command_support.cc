#include "cli/command_support.h"

#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/local_daemon.h"
#include "common/errors.h"
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
      ASSIGN_OR_RETURN(config,
                       ResolveConfig(env_.env, ConfigOverrides{globals_.url, globals_.token}));
    }
    ASSIGN_OR_RETURN(ApiClient client, ApiClient::Create(config));
    client_ = std::make_unique<ApiClient>(std::move(client));
  }
  return client_.get();
}

void Session::Print(const nlohmann::json& value, OutputFormat format, ResourceKind kind) {
  out() << Render(value, format, kind) << std::flush;
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
  std::filesystem::path self = env_.self_exe;
  if (self.empty()) {
    std::error_code ec;
    self = std::filesystem::read_symlink("/proc/self/exe", ec);
  }
  return ResolveLocalDaemonSettings(env_.env, env_.python, env_.python_dir, self);
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

void OutputOptions::Add(CLI::App* command) {
  command
      ->add_option("-o,--output", format,
                   "Output format: json (default), yaml, or table (aligned columns)")
      ->check(CLI::IsMember({"json", "yaml", "table"}));
}

OutputFormat OutputOptions::Format() const {
  absl::StatusOr<OutputFormat> parsed = ParseOutputFormat(format);
  return parsed.ok() ? *parsed : OutputFormat::kJson;
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
  command->add_option("--set", set,
                      "Set a field: path=value, e.g. --set instance_count=2 "
                      "request_settings.request_timeout_ms=10000 (repeatable; values are YAML "
                      "scalars or flow collections; applied over the file)");
}

absl::Status PrepareArtifacts(Session& session, nlohmann::json& doc, const std::string& spec_file,
                              const std::function<absl::Status()>& validate) {
  std::filesystem::path base = std::filesystem::path(spec_file).parent_path();
  if (base.empty()) base = ".";
  ASSIGN_OR_RETURN(std::vector<DocumentArtifact> artifacts,
                   PackDocumentArtifacts(doc, base, spec_file));
  if (validate) RETURN_IF_ERROR(validate());
  if (artifacts.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ApiArtifactStore store(*client);
  absl::StatusOr<int> uploaded =
      UploadArtifacts(artifacts, store, [&session](const DocumentArtifact& artifact) {
        session.err() << "Uploading " << artifact.field << " " << artifact.packed.base_name << " ("
                      << HumanSize(artifact.packed.tar.size()) << ")\n"
                      << std::flush;
      });
  return uploaded.status();
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
