// `berth model ...`: create, list, show, delete — the model registry (docs/api.md, "Models"),
// shaped like `az ml model`.

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/model_asset.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr char kModels[] = "/models";

struct CreateOptions {
  std::string file;
  std::string name;
  std::string version;
  std::string path;
  std::string type;
  std::string description;
  GenericUpdateOptions update;
};

// The model document from the file (if any), --set/--add/--remove and the flags, which win over
// both.
absl::StatusOr<json> BuildModelDocument(const CreateOptions& o) {
  SpecInput input;
  if (!o.file.empty()) input.file = o.file;
  input.set_assignments = o.update.set;
  input.add_remove = o.update.add_remove;
  ASSIGN_OR_RETURN(json doc, BuildSpecDocument(input));
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
  ASSIGN_OR_RETURN(json artifact, UploadLocalPath(session, model.path, o.file, "path"));
  model.artifact =
      core::ArtifactRef{artifact["digest"], artifact["base_name"], artifact["is_file"]};
  return RegisterAssetVersion(session, kModels, core::ToJson(model), "model", o.file,
                              ResourceKind::kModel);
}

struct ListOptions {
  std::string name;
};

absl::Status List(Session& session, const ListOptions& o) {
  return ListAssetVersions(session, kModels, o.name, ResourceKind::kModel);
}

struct DeleteOptions {
  std::string name;
  std::string version;
  bool yes = false;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  return ConfirmAndDelete(session,
                          absl::StrCat("Delete version ", o.version, " of model ", o.name, "?"),
                          AssetVersionPath(kModels, o.name, o.version),
                          absl::StrCat("Deleted version ", o.version, " of model ", o.name), o.yes);
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
    o->update.Add(c);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List registered model versions");
    auto o = Bind(c, action, &List);
    c->add_option("-n,--name", o->name, "Only the versions of this model");
    AddLocalFlag(c);
  }
  AddAssetShowCommand(group, action, kModels, ResourceKind::kModel, "model");
  {
    CLI::App* c = group->add_subcommand(
        "delete",
        "Delete a model version (asks for confirmation; refused while a deployment uses it)");
    auto o = Bind(c, action, &Delete);
    c->add_option("-n,--name", o->name, "Model name")->required();
    c->add_option("-v,--version", o->version, "Version")->required();
    AddYesFlag(c, o->yes);
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
