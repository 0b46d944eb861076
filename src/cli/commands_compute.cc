// `berth compute ...`: create, show, list, delete — compute clusters (`type: amlcompute`) that
// batch deployments name as `compute: azureml:<name>` (docs/batch.md), shaped like
// `az ml compute`.

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr char kComputes[] = "/computes";

std::string ComputePath(const std::string& name) {
  return absl::StrCat(kComputes, "/", EncodeComponent(name));
}

struct CreateOptions {
  SpecOptions spec;
  std::string name;
  std::string type;
  int min_instances = -1;  // -1: not given
  int max_instances = -1;
  std::string tier;
  std::string size;
};

absl::Status Create(Session& session, const CreateOptions& o) {
  SpecInput input = o.spec.ToInput();
  OverrideGivenFields(input,
                      {{"name", &o.name}, {"type", &o.type}, {"tier", &o.tier}, {"size", &o.size}});
  ASSIGN_OR_RETURN(json doc, BuildSpecDocument(input));
  if (o.min_instances >= 0) doc["min_instances"] = o.min_instances;
  if (o.max_instances >= 0) doc["max_instances"] = o.max_instances;
  const std::string name = StringField(doc, "name");
  if (name.empty()) {
    return UsageError("a compute name is required: pass --name or set `name` in the file");
  }
  return SendDocument(session, "PUT", ComputePath(name), doc, o.spec.file, ResourceKind::kCompute);
}

struct NameOptions {
  std::string name;
};

absl::Status Show(Session& session, const NameOptions& o) {
  return PrintResource(session, ComputePath(o.name), ResourceKind::kCompute);
}

absl::Status List(Session& session, const NameOptions& o) {
  return PrintList(session, kComputes, ResourceKind::kCompute);
}

struct DeleteOptions {
  std::string name;
  bool yes = false;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  return ConfirmAndDelete(session, absl::StrCat("Delete compute ", o.name, "?"),
                          ComputePath(o.name), absl::StrCat("Deleted compute ", o.name), o.yes);
}

}  // namespace

void AddComputeCommands(CLI::App& app, Action* action) {
  CLI::App* group =
      app.add_subcommand("compute",
                         "Manage compute clusters: the instance limits batch jobs run within "
                         "(compute: azureml:<name> in a batch deployment)");
  group->require_subcommand(1);
  {
    CLI::App* c = group->add_subcommand(
        "create", "Create a compute cluster, or replace the one of that name");
    auto o = Bind(c, action, &Create);
    o->spec.Add(c, /*file_required=*/false, "compute");
    c->add_option("-n,--name", o->name, "Compute name (wins over the file)");
    c->add_option("-t,--type", o->type, "amlcompute (the only type)")
        ->check(CLI::IsMember({"amlcompute"}));
    c->add_option("--min-instances", o->min_instances, "Fewest instances (default 0)")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--max-instances", o->max_instances, "Most instances (default 4)")
        ->check(CLI::PositiveNumber);
    c->add_option("--tier", o->tier,
                  "dedicated (default) or low_priority (jobs default to low priority)")
        ->check(CLI::IsMember({"dedicated", "low_priority"}));
    c->add_option("--size", o->size, "VM size, e.g. Standard_DS3_v2 (informational)");
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("show", "Show a compute cluster");
    auto o = Bind(c, action, &Show);
    c->add_option("-n,--name", o->name, "Compute name")->required();
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List compute clusters");
    Bind(c, action, &List);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "delete",
        "Delete a compute cluster (asks for confirmation; refused while a batch deployment "
        "names it)");
    auto o = Bind(c, action, &Delete);
    c->add_option("-n,--name", o->name, "Compute name")->required();
    AddYesFlag(c, o->yes);
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
