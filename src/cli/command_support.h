#pragma once
// What the `berth` commands share: the session (streams, lazily connected API client), usage
// errors, common options and the write-then-wait flow.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/api_client.h"
#include "cli/cli.h"
#include "cli/local_daemon.h"
#include "cli/output.h"
#include "cli/spec_document.h"
#include "cli/wait.h"
#include "jmespath/jmespath.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// An error in how the command was called (exit code 2), rather than in the operation.
absl::Status UsageError(std::string message);
bool IsUsageError(const absl::Status& status);

struct GlobalOptions {
  std::optional<std::string> url;
  std::optional<std::string> token;
  bool local = false;  // --local: the per-user berthd (local_daemon.h) instead of the config
  // -o/--output and --query, which every command takes (as every `az` command does).
  RenderOptions render;
  std::optional<jmespath::Expression> query;
  bool output_given = false;  // -o or --query was on the command line
};

// One command's run: the process around it and the server it talks to.
class Session {
 public:
  Session(const CliEnv& env, GlobalOptions globals) : env_(env), globals_(std::move(globals)) {}

  std::ostream& out() { return *env_.out; }
  std::ostream& err() { return *env_.err; }
  const CliEnv& env() const { return env_; }

  // The API client, created on first use from the resolved configuration, or with --local
  // for the per-user berthd (started first when none runs).
  absl::StatusOr<ApiClient*> Client();

  // The command was given --local.
  bool local() const { return globals_.local; }

  // The command was given -o or --query.
  bool output_given() const { return globals_.output_given; }

  // Applies --query to a command's result and prints it in the -o format. A query that fails on
  // the result (a function given the wrong type) is INVALID_ARGUMENT naming --query.
  absl::Status Print(const nlohmann::json& value, ResourceKind kind);

  // A command whose result is text (logs, a scoring answer): printed as is unless -o or --query
  // was given, when it is the JSON string `az` would return.
  absl::Status PrintText(const std::string& text);

  // Asks `question` on a terminal unless `yes`. Without a terminal and without --yes this is a
  // usage error; a "no" is CANCELLED.
  absl::Status Confirm(const std::string& question, bool yes);

  WaitEnv MakeWaitEnv() const;

  // The local daemon's folder, executables and Python defaults, from the environment.
  absl::StatusOr<LocalDaemonSettings> LocalSettings() const;
  DaemonWaitEnv MakeDaemonWaitEnv() const;

 private:
  const CliEnv& env_;
  GlobalOptions globals_;
  std::unique_ptr<ApiClient> client_;
};

// The command chosen on the command line, set by its CLI11 callback and run after parsing.
using Action = std::function<absl::Status(Session&)>;

// Binds a command to `run`: its options live in the returned object (shared with the callback),
// and parsing the command stores the call in `*action`.
template <typename Options>
std::shared_ptr<Options> Bind(CLI::App* command, Action* action,
                              absl::Status (*run)(Session&, const Options&)) {
  auto options = std::make_shared<Options>();
  command->callback([options, action, run] {
    *action = [options, run](Session& session) { return run(session, *options); };
  });
  return options;
}

// Adds `--local` to a command. Run() finds it on the command chosen and sets
// GlobalOptions::local.
void AddLocalFlag(CLI::App* command);
inline constexpr char kLocalFlag[] = "--local";

// -y/--yes for commands that ask for confirmation.
void AddYesFlag(CLI::App* command, bool& yes);

struct WaitOptions {
  bool no_wait = false;
  int timeout_s = static_cast<int>(kDefaultWaitTimeout.count());
  void Add(CLI::App* command, const std::string& what);
};

// `az`'s generic update arguments: --set, --add and --remove.
struct GenericUpdateOptions {
  std::vector<std::string> set;
  AddRemoveArguments add_remove;
  bool given() const { return !set.empty() || !add_remove.empty(); }
  void Add(CLI::App* command);
};

// The inputs of a create/update from a file and flags.
struct SpecOptions {
  std::string file;
  GenericUpdateOptions update;
  void Add(CLI::App* command, bool file_required, const std::string& kind);
  // The file and the generic update arguments; `current` as SpecInput::current.
  SpecInput ToInput(std::function<absl::StatusOr<nlohmann::json>()> current = nullptr) const;
  bool given() const { return !file.empty() || update.given(); }
};

// Adapts ApiClient to the artifact store used by UploadArtifacts.
class ApiArtifactStore final : public ArtifactStore {
 public:
  explicit ApiArtifactStore(ApiClient& client) : client_(client) {}
  absl::StatusOr<bool> Has(std::string_view digest) override { return client_.HasArtifact(digest); }
  absl::Status Put(std::string_view digest, const std::string& tar) override {
    return client_.PutArtifact(digest, tar);
  }

 private:
  ApiClient& client_;
};

// Packs and uploads the folders `doc` names (model.path, code_configuration.code), relative to
// `spec_file`'s folder (or the working directory without a file), and references them in `doc`.
// Validation runs between packing and uploading through `validate`, so an invalid document
// uploads nothing.
absl::Status PrepareArtifacts(Session& session, nlohmann::json& doc, const std::string& spec_file,
                              const std::function<absl::Status()>& validate);

// Packs the local folder or file `written` (relative to `spec_file`'s folder, or to the working
// directory without a file), uploads it unless berthd has it, and returns its reference
// ({"digest", "base_name", "is_file"}). A path that cannot be packed is INVALID_ARGUMENT on
// `field`, in the file.
absl::StatusOr<nlohmann::json> UploadLocalPath(Session& session, const std::string& written,
                                               const std::string& spec_file,
                                               const std::string& field);

// Reads the resource at `path` when called (SpecInput::current).
std::function<absl::StatusOr<nlohmann::json>()> CurrentResource(Session& session, std::string path);

// GETs `path` (one resource) or every page of a list, and prints it.
absl::Status PrintResource(Session& session, const std::string& path, ResourceKind kind);
absl::Status PrintList(Session& session, const std::string& path, ResourceKind kind);

// Asks `question` (unless `yes`), DELETEs `path` and says `done` on stderr.
absl::Status ConfirmAndDelete(Session& session, const std::string& question,
                              const std::string& path, const std::string& done, bool yes);

// A deployment's document (file, --set, -n/-e) and the names it goes under, for online and
// batch deployments alike. A partial update without a file carries only what changes.
struct DeploymentTarget {
  nlohmann::json doc;
  std::string name;
  std::string endpoint;
};
// `current` reads the deployment as it is (for --add/--remove of a partial update).
absl::StatusOr<DeploymentTarget> BuildDeploymentTarget(
    const std::string& name, const std::string& endpoint, const SpecOptions& spec, bool partial,
    std::function<absl::StatusOr<nlohmann::json>()> current = nullptr);

// -n/--name and -e/--endpoint-name of a deployment command; `required` for those naming an
// existing deployment, otherwise they win over the file.
void AddDeploymentNames(CLI::App* command, std::string& name, std::string& endpoint, bool required);

// Prints the answer's warnings (not for deletes), then, unless --no-wait, polls `item_path` until
// the operation ends. Returns the resource to print: the final one, or the write's answer with
// --no-wait.
absl::StatusOr<nlohmann::json> FinishWrite(Session& session, const nlohmann::json& answer,
                                           const std::string& item_path, WaitSpec spec,
                                           const WaitOptions& wait);

// "/online-endpoints/<e>" and "/online-endpoints/<e>/deployments/<d>", encoded.
std::string EndpointPath(const std::string& endpoint);
std::string DeploymentPath(const std::string& endpoint, const std::string& deployment);

// "/batch-endpoints/<e>", "/batch-endpoints/<e>/deployments/<d>" and "/jobs/<j>", encoded.
std::string BatchEndpointPath(const std::string& endpoint);
std::string BatchDeploymentPath(const std::string& endpoint, const std::string& deployment);
std::string JobPath(const std::string& job);

// PUTs or PATCHes `doc` at `path`, then prints the answer's warnings and the answer. A 400 is
// reported against `spec_file` (see InSpecFile).
absl::Status SendDocument(Session& session, const std::string& method, const std::string& path,
                          const nlohmann::json& doc, const std::string& spec_file,
                          ResourceKind kind);

// The string at `doc[key]`, or "".
std::string StringField(const nlohmann::json& doc, const char* key);

// Registers the command groups; the chosen command's callback stores its work in `*action`.
void AddEndpointCommands(CLI::App& app, Action* action);
void AddDeploymentCommands(CLI::App& app, Action* action);
void AddModelCommands(CLI::App& app, Action* action);
void AddLocalDaemonCommands(CLI::App& app, Action* action);
void AddBatchEndpointCommands(CLI::App& app, Action* action);
void AddBatchDeploymentCommands(CLI::App& app, Action* action);
void AddComputeCommands(CLI::App& app, Action* action);
void AddDataCommands(CLI::App& app, Action* action);
void AddJobCommands(CLI::App& app, Action* action);

// `show` of a versioned asset (models, data): -n with -v or --label latest.
struct AssetShowOptions {
  std::string collection;  // "/models", "/data"
  ResourceKind kind = ResourceKind::kOther;
  std::string name;
  std::string version;
  std::string label;
};
void AddAssetShowCommand(CLI::App* group, Action* action, const std::string& collection,
                         ResourceKind kind, const std::string& asset);
// POSTs a new version of an asset (`collection` "/models", "/data") and prints berthd's answer.
// A version that exists is ALREADY_EXISTS saying how to pick another; a 400 is reported against
// `spec_file`.
absl::Status RegisterAssetVersion(Session& session, const std::string& collection,
                                  const nlohmann::json& doc, const std::string& asset,
                                  const std::string& spec_file, ResourceKind kind);
// Prints every version of the collection's assets, or of those named `name`.
absl::Status ListAssetVersions(Session& session, const std::string& collection,
                               const std::string& name, ResourceKind kind);

// "<collection>/<name>/versions/<version>", encoded.
std::string AssetVersionPath(const std::string& collection, const std::string& name,
                             const std::string& version);

// A server's verdict on a document read from `spec_file`: field errors (400) are prefixed
// with the file name, as local validation errors are.
absl::Status InSpecFile(const absl::Status& status, const std::string& spec_file);

}  // namespace berth::cli
