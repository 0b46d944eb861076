// `berth batch-deployment ...`: create, update, show, list, delete, list-jobs (docs/batch.md),
// shaped like `az ml batch-deployment`. The YAML may use the current layout (`type: model`,
// `settings:`) or the legacy one (settings at the root); berthd reads both.

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

using nlohmann::json;

struct WriteOptions {
  std::string name;
  std::string endpoint;
  SpecOptions spec;
  bool set_default = false;
};

absl::Status Create(Session& session, const WriteOptions& o) {
  ASSIGN_OR_RETURN(DeploymentTarget t,
                   BuildDeploymentTarget(o.name, o.endpoint, o.spec, /*partial=*/false));
  RETURN_IF_ERROR(PrepareArtifacts(session, t.doc, o.spec.file, nullptr));
  std::string path = BatchDeploymentPath(t.endpoint, t.name);
  if (o.set_default) path += "?set_default=true";
  return SendDocument(session, "PUT", path, t.doc, o.spec.file, ResourceKind::kBatchDeployment);
}

absl::Status Update(Session& session, const WriteOptions& o) {
  if (!o.spec.given()) {
    return UsageError("nothing to update: give -f/--file, --set, --add or --remove");
  }
  ASSIGN_OR_RETURN(
      DeploymentTarget t,
      BuildDeploymentTarget(o.name, o.endpoint, o.spec, /*partial=*/true,
                            CurrentResource(session, BatchDeploymentPath(o.endpoint, o.name))));
  // The document may be partial: berthd validates the merged result.
  RETURN_IF_ERROR(PrepareArtifacts(session, t.doc, o.spec.file, nullptr));
  return SendDocument(session, "PATCH", BatchDeploymentPath(t.endpoint, t.name), t.doc, o.spec.file,
                      ResourceKind::kBatchDeployment);
}

struct ItemOptions {
  std::string name;
  std::string endpoint;
};

absl::Status Show(Session& session, const ItemOptions& o) {
  return PrintResource(session, BatchDeploymentPath(o.endpoint, o.name),
                       ResourceKind::kBatchDeployment);
}

absl::Status List(Session& session, const ItemOptions& o) {
  return PrintList(session, BatchEndpointPath(o.endpoint) + "/deployments",
                   ResourceKind::kBatchDeployment);
}

absl::Status ListJobs(Session& session, const ItemOptions& o) {
  return PrintList(session, BatchDeploymentPath(o.endpoint, o.name) + "/jobs", ResourceKind::kJob);
}

struct DeleteOptions {
  std::string name;
  std::string endpoint;
  bool yes = false;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  return ConfirmAndDelete(
      session, absl::StrCat("Delete batch deployment ", o.name, " of endpoint ", o.endpoint, "?"),
      BatchDeploymentPath(o.endpoint, o.name),
      absl::StrCat("Deleted batch deployment ", o.name, " of endpoint ", o.endpoint), o.yes);
}

void AddWriteOptions(CLI::App* c, WriteOptions& o, bool create) {
  AddDeploymentNames(c, o.name, o.endpoint, /*required=*/false);
  o.spec.Add(c, /*file_required=*/create, "batch deployment");
  if (create) {
    c->add_flag("--set-default", o.set_default,
                "Also make it the endpoint's default deployment (defaults.deployment_name)");
  }
  AddLocalFlag(c);
}

}  // namespace

void AddBatchDeploymentCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "batch-deployment",
      "Manage batch deployments: the model, scoring script, compute and settings a batch "
      "endpoint's jobs run with");
  group->require_subcommand(1);
  {
    CLI::App* c = group->add_subcommand(
        "create",
        "Create a batch deployment from a YAML file, or merge the file into the existing one: "
        "packs and uploads the local model and code folders");
    AddWriteOptions(c, *Bind(c, action, &Create), /*create=*/true);
  }
  {
    CLI::App* c = group->add_subcommand(
        "update", "Update a batch deployment by merging the file and --set values");
    AddWriteOptions(c, *Bind(c, action, &Update), /*create=*/false);
  }
  {
    CLI::App* c = group->add_subcommand("show", "Show a batch deployment");
    auto o = Bind(c, action, &Show);
    AddDeploymentNames(c, o->name, o->endpoint, /*required=*/true);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List the deployments of a batch endpoint");
    auto o = Bind(c, action, &List);
    c->add_option("-e,--endpoint-name,--endpoint", o->endpoint, "Endpoint name")->required();
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "delete",
        "Delete a batch deployment (asks for confirmation; refused while it is the default of an "
        "endpoint with other deployments, or while one of its jobs runs)");
    auto o = Bind(c, action, &Delete);
    AddDeploymentNames(c, o->name, o->endpoint, /*required=*/true);
    AddYesFlag(c, o->yes);
    AddLocalFlag(c);
  }
  {
    CLI::App* c =
        group->add_subcommand("list-jobs", "List the jobs of a batch deployment, newest first");
    auto o = Bind(c, action, &ListJobs);
    AddDeploymentNames(c, o->name, o->endpoint, /*required=*/true);
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
