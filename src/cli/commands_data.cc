// `berth data ...`: create, list, show, archive — data assets that jobs take as input
// (azureml:<name>:<version>; docs/batch.md), shaped like `az ml data`.

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/errors.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr char kData[] = "/data";

struct CreateOptions {
  std::string file;
  std::string name;
  std::string version;
  std::string path;
  std::string type;
  std::string description;
  GenericUpdateOptions update;
};

absl::Status Create(Session& session, const CreateOptions& o) {
  SpecInput input;
  if (!o.file.empty()) input.file = o.file;
  input.set_assignments = o.update.set;
  input.add_remove = o.update.add_remove;
  OverrideGivenFields(input, {{"name", &o.name},
                              {"version", &o.version},
                              {"path", &o.path},
                              {"type", &o.type},
                              {"description", &o.description}});
  ASSIGN_OR_RETURN(json doc, BuildSpecDocument(input));
  const std::string name = StringField(doc, "name");
  const std::string path = StringField(doc, "path");
  if (name.empty()) {
    return UsageError("a data asset name is required: pass --name or set `name` in the file");
  }
  if (path.empty()) {
    return UsageError(
        "the data is required: pass --path (a local folder or file, or "
        "azureml://datastores/<store>/paths/<path>) or set `path` in the file");
  }
  // YAML reads `version: 3` as a number; versions are strings.
  if (auto version = doc.find("version"); version != doc.end() && version->is_number()) {
    *version = version->dump();
  }
  if (!IsRemoteReference(path)) {
    ASSIGN_OR_RETURN(json artifact, UploadLocalPath(session, path, o.file, "path"));
    if (!doc.contains("type"))
      doc["type"] = artifact.value("is_file", false) ? "uri_file" : "uri_folder";
    doc["artifact"] = std::move(artifact);
  }
  return RegisterAssetVersion(session, kData, doc, "data asset", o.file, ResourceKind::kData);
}

struct ListOptions {
  std::string name;
};

absl::Status List(Session& session, const ListOptions& o) {
  return ListAssetVersions(session, kData, o.name, ResourceKind::kData);
}

struct ArchiveOptions {
  std::string name;
  std::string version;
};

absl::Status Archive(Session& session, const ArchiveOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json asset,
                   client->Post(AssetVersionPath(kData, o.name, o.version) + "/archive"));
  return session.Print(asset, ResourceKind::kData);
}

}  // namespace

void AddDataCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "data", "Manage data assets that batch jobs score (--input azureml:<name>:<version>)");
  group->require_subcommand(1);
  {
    CLI::App* c = group->add_subcommand(
        "create",
        "Register a data asset version: a local folder or file (packed and uploaded) or a "
        "datastore path");
    auto o = Bind(c, action, &Create);
    c->add_option("-f,--file", o->file,
                  "Data YAML (Azure ML schema: name, version, type, path, description, tags); "
                  "its relative path is resolved against the file's folder");
    c->add_option("-n,--name", o->name, "Data asset name (wins over the file)");
    c->add_option("-v,--version", o->version,
                  "Version (default: the next integer after the highest integer version)");
    c->add_option("-p,--path", o->path,
                  "A local folder or file, or azureml://datastores/<store>/paths/<path>");
    c->add_option("-t,--type", o->type,
                  "uri_folder or uri_file (default: uri_file for a local file, else uri_folder)")
        ->check(CLI::IsMember({"uri_folder", "uri_file"}));
    c->add_option("-d,--description", o->description, "Description");
    o->update.Add(c);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List data asset versions");
    auto o = Bind(c, action, &List);
    c->add_option("-n,--name", o->name, "Only the versions of this data asset");
    AddLocalFlag(c);
  }
  AddAssetShowCommand(group, action, kData, ResourceKind::kData, "data asset");
  {
    CLI::App* c = group->add_subcommand(
        "archive",
        "Archive a data asset version: hidden from @latest, still usable by its version");
    auto o = Bind(c, action, &Archive);
    c->add_option("-n,--name", o->name, "Data asset name")->required();
    c->add_option("-v,--version", o->version, "Version")->required();
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
