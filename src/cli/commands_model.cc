// `berth model ...`: create, list, show, delete — the model registry (docs/api.md, "Models"),
// shaped like `az ml model`.

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/model_asset.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kLatestLabel[] = "latest";

std::string VersionPath(const std::string& name, const std::string& version) {
  return absl::StrCat("/models/", EncodeComponent(name), "/versions/", EncodeComponent(version));
}

struct CreateOptions {
  std::string file;
  std::string name;
  std::string version;
  std::string path;
  std::string type;
  std::string description;
  OutputOptions output;
};

// The model document from the file (if any) and the flags, which win over the file.
absl::StatusOr<json> BuildModelDocument(const CreateOptions& o) {
  json doc = json::object();
  if (!o.file.empty()) {
    ASSIGN_OR_RETURN(doc, LoadSpecFile(o.file));
  }
  const std::pair<const char*, const std::string*> flags[] = {{"name", &o.name},
                                                              {"version", &o.version},
                                                              {"path", &o.path},
                                                              {"type", &o.type},
                                                              {"description", &o.description}};
  for (const auto& [field, value] : flags) {
    if (!value->empty()) doc[field] = *value;
  }
  if (!doc.contains("name")) {
    return UsageError("a model name is required: pass --name or set `name` in the file");
  }
  if (!doc.contains("path")) {
    return UsageError(
        "the model's files are required: pass --path (a local folder or file) or set `path` in "
        "the file");
  }
  return doc;
}

absl::Status Create(Session& session, const CreateOptions& o) {
  ASSIGN_OR_RETURN(json doc, BuildModelDocument(o));
  absl::StatusOr<core::ModelAsset> parsed =
      core::ParseModelDocument(doc, {.allow_local_paths = true});
  if (!parsed.ok()) return InSpecFile(parsed.status(), o.file);
  core::ModelAsset model = *std::move(parsed);
  if (absl::StartsWith(model.path, "azureml:") || absl::StrContains(model.path, "://")) {
    return InSpecFile(InvalidField("path", absl::StrCat("\"", model.path,
                                                        "\": berth registers local folders and "
                                                        "files only; give a local path")),
                      o.file);
  }
  // As in Azure's YAML, a relative path is relative to the file; without one, to the working
  // directory.
  fs::path base = fs::path(o.file).parent_path();
  fs::path resolved =
      fs::path(model.path).is_absolute() || base.empty() ? fs::path(model.path) : base / model.path;
  absl::StatusOr<PackedArtifact> packed = PackArtifact(resolved);
  if (!packed.ok()) {
    return InSpecFile(InvalidField("path", std::string(packed.status().message())), o.file);
  }
  model.artifact = core::ArtifactRef{packed->digest, packed->base_name, packed->is_file};

  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ApiArtifactStore store(*client);
  RETURN_IF_ERROR(UploadArtifacts({DocumentArtifact{"path", *std::move(packed)}}, store,
                                  [&session](const DocumentArtifact& artifact) {
                                    session.err()
                                        << "Uploading " << artifact.packed.base_name << "\n"
                                        << std::flush;
                                  })
                      .status());
  absl::StatusOr<json> answer = client->Post("/models", core::ToJson(model), /*create=*/true);
  if (absl::IsAlreadyExists(answer.status()) && !model.version.empty()) {
    return absl::AlreadyExistsError(
        absl::StrCat("model ", model.name, " version ", model.version,
                     " already exists; give another --version, or none to register the next one"));
  }
  if (!answer.ok()) return InSpecFile(answer.status(), o.file);
  session.Print(*answer, o.output.Format(), ResourceKind::kModel);
  return absl::OkStatus();
}

struct ListOptions {
  std::string name;
  OutputOptions output;
};

absl::Status List(Session& session, const ListOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  std::string path = "/models";
  if (!o.name.empty()) absl::StrAppend(&path, "?name=", EncodeComponent(o.name));
  ASSIGN_OR_RETURN(json value, client->ListAll(path));
  session.Print(value, o.output.Format(), ResourceKind::kModel);
  return absl::OkStatus();
}

struct ShowOptions {
  std::string name;
  std::string version;
  std::string label;
  OutputOptions output;
};

absl::Status Show(Session& session, const ShowOptions& o) {
  if (o.version.empty() == o.label.empty()) {
    return UsageError("give either --version or --label latest");
  }
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json model,
                   client->Get(VersionPath(o.name, o.version.empty() ? kLatestLabel : o.version)));
  session.Print(model, o.output.Format(), ResourceKind::kModel);
  return absl::OkStatus();
}

struct DeleteOptions {
  std::string name;
  std::string version;
  bool yes = false;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  RETURN_IF_ERROR(session.Confirm(
      absl::StrCat("Delete version ", o.version, " of model ", o.name, "?"), o.yes));
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  RETURN_IF_ERROR(client->Delete(VersionPath(o.name, o.version)).status());
  session.err() << "Deleted version " << o.version << " of model " << o.name << "\n" << std::flush;
  return absl::OkStatus();
}

}  // namespace

void AddModelCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "model", "Manage registered models that deployments refer to as azureml:<name>:<version>");
  group->require_subcommand(1);
  {
    CLI::App* c = group->add_subcommand(
        "create",
        "Register a model version: packs and uploads a local folder or file (from --path or the "
        "model YAML's `path`)");
    auto o = Bind(c, action, &Create);
    c->add_option("-f,--file", o->file,
                  "Model YAML (Azure ML schema: name, version, path, type, description, tags); "
                  "its relative path is resolved against the file's folder");
    c->add_option("-n,--name", o->name, "Model name (wins over the file)");
    c->add_option("-v,--version", o->version,
                  "Version (default: the next integer after the highest integer version)");
    c->add_option("-p,--path", o->path, "Local folder or file holding the model");
    c->add_option("-t,--type", o->type, "custom_model (default), mlflow_model or triton_model");
    c->add_option("-d,--description", o->description, "Description");
    o->output.Add(c);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List registered model versions");
    auto o = Bind(c, action, &List);
    c->add_option("-n,--name", o->name, "Only the versions of this model");
    o->output.Add(c);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("show", "Show a model version");
    auto o = Bind(c, action, &Show);
    c->add_option("-n,--name", o->name, "Model name")->required();
    auto* version = c->add_option("-v,--version", o->version, "Version");
    c->add_option("-l,--label", o->label, "`latest`: the most recently registered version")
        ->check(CLI::IsMember({kLatestLabel}))
        ->excludes(version);
    o->output.Add(c);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "delete",
        "Delete a model version (asks for confirmation; refused while a deployment uses it)");
    auto o = Bind(c, action, &Delete);
    c->add_option("-n,--name", o->name, "Model name")->required();
    c->add_option("-v,--version", o->version, "Version")->required();
    c->add_flag("-y,--yes", o->yes, "Do not ask for confirmation (required without a terminal)");
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
