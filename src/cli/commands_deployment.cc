// `berth online-deployment ...`: create, update, show, list, delete, get-logs.

#include <memory>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::cli {
namespace {

using nlohmann::json;

std::string ShowCommand(const std::string& endpoint, const std::string& name) {
  return absl::StrCat("berth online-deployment show -e ", endpoint, " -n ", name);
}

struct WriteOptions {
  std::string name;
  std::string endpoint;
  SpecOptions spec;
  bool all_traffic = false;
  WaitOptions wait;
};

using Target = DeploymentTarget;

absl::StatusOr<Target> BuildTarget(Session& session, const WriteOptions& o, bool partial) {
  return BuildDeploymentTarget(o.name, o.endpoint, o.spec, partial,
                               CurrentResource(session, DeploymentPath(o.endpoint, o.name)));
}

// --all-traffic: once the deployment is Succeeded, send all live traffic to it.
absl::Status SendAllTraffic(Session& session, const WriteOptions& o, const Target& t) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json answer,
                   client->Patch(EndpointPath(t.endpoint), json{{"traffic", {{t.name, 100}}}}));
  WaitSpec spec{"Updating", "endpoint", t.endpoint,
                false,      {},         "berth online-endpoint show -n " + t.endpoint};
  return FinishWrite(session, answer, EndpointPath(t.endpoint), spec, o.wait).status();
}

// Waits for the deployment; --all-traffic needs it Succeeded even with --no-wait.
absl::StatusOr<json> FinishDeploymentWrite(Session& session, const WriteOptions& o, const Target& t,
                                           const json& answer, const std::string& action) {
  WaitOptions wait = o.wait;
  if (o.all_traffic) wait.no_wait = false;
  ASSIGN_OR_RETURN(
      json result,
      FinishWrite(session, answer, DeploymentPath(t.endpoint, t.name),
                  {action, "deployment", t.name, false, {}, ShowCommand(t.endpoint, t.name)},
                  wait));
  if (o.all_traffic) RETURN_IF_ERROR(SendAllTraffic(session, o, t));
  return result;
}

// True when no deployment of the endpoint has a positive share of its live traffic.
absl::StatusOr<bool> HasNoLiveTraffic(ApiClient& client, const std::string& endpoint) {
  ASSIGN_OR_RETURN(json doc, client.Get(EndpointPath(endpoint)));
  json traffic = doc.is_object() ? doc.value("traffic", json::object()) : json::object();
  for (const auto& [name, share] : traffic.items()) {
    if (share.is_number() && share.get<double>() > 0) return false;
  }
  return true;
}

absl::Status Create(Session& session, const WriteOptions& given) {
  WriteOptions o = given;
  ASSIGN_OR_RETURN(Target t, BuildTarget(session, o, /*partial=*/false));
  RETURN_IF_ERROR(PrepareArtifacts(session, t.doc, o.spec.file, [&]() -> absl::Status {
    absl::StatusOr<core::Parsed<core::DeploymentSpec>> parsed = core::ParseDeploymentSpec(t.doc);
    return parsed.ok() ? absl::OkStatus() : Annotate(parsed.status(), o.spec.file);
  }));
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  if (session.local() && !o.all_traffic) {
    // As with `az ml ... --local`, a local endpoint's first deployment gets every request.
    ASSIGN_OR_RETURN(o.all_traffic, HasNoLiveTraffic(*client, t.endpoint));
    if (o.all_traffic) {
      session.err() << "Local endpoint " << t.endpoint << " has no live traffic: deployment "
                    << t.name << " gets all of it once it is Succeeded\n"
                    << std::flush;
    }
  }
  absl::StatusOr<json> answer =
      client->Post(EndpointPath(t.endpoint) + "/deployments", t.doc, /*create=*/true);
  if (absl::IsAlreadyExists(answer.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("deployment ", t.name, " already exists in endpoint ", t.endpoint,
                     "; use `berth online-deployment update` to change it"));
  }
  if (!answer.ok()) return answer.status();
  ASSIGN_OR_RETURN(json result, FinishDeploymentWrite(session, o, t, *answer, "Creating"));
  return session.Print(result, ResourceKind::kDeployment);
}

absl::Status Update(Session& session, const WriteOptions& o) {
  if (!o.spec.given() && !o.all_traffic) {
    return UsageError("nothing to update: give -f/--file, --set, --add, --remove or --all-traffic");
  }
  ASSIGN_OR_RETURN(Target t, BuildTarget(session, o, /*partial=*/true));
  // The document may be partial: berthd validates the merged result.
  RETURN_IF_ERROR(PrepareArtifacts(session, t.doc, o.spec.file, nullptr));
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  json result;
  if (t.doc.empty()) {
    // Only --all-traffic: the deployment itself does not change.
    ASSIGN_OR_RETURN(result, client->Get(DeploymentPath(t.endpoint, t.name)));
    RETURN_IF_ERROR(SendAllTraffic(session, o, t));
  } else {
    absl::StatusOr<json> patched = client->Patch(DeploymentPath(t.endpoint, t.name), t.doc);
    if (!patched.ok()) return InSpecFile(patched.status(), o.spec.file);
    json answer = *std::move(patched);
    ASSIGN_OR_RETURN(result, FinishDeploymentWrite(session, o, t, answer, "Updating"));
  }
  return session.Print(result, ResourceKind::kDeployment);
}

struct ItemOptions {
  std::string name;
  std::string endpoint;
};

absl::Status Show(Session& session, const ItemOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json deployment, client->Get(DeploymentPath(o.endpoint, o.name)));
  return session.Print(deployment, ResourceKind::kDeployment);
}

absl::Status List(Session& session, const ItemOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json value, client->ListAll(EndpointPath(o.endpoint) + "/deployments"));
  return session.Print(value, ResourceKind::kDeployment);
}

struct DeleteOptions {
  std::string name;
  std::string endpoint;
  bool yes = false;
  WaitOptions wait;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  RETURN_IF_ERROR(session.Confirm(
      absl::StrCat("Delete deployment ", o.name, " of endpoint ", o.endpoint, "?"), o.yes));
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  const std::string path = DeploymentPath(o.endpoint, o.name);
  ASSIGN_OR_RETURN(json answer, client->Delete(path));
  return FinishWrite(session, answer, path,
                     {"Deleting", "deployment", o.name, true, {}, ShowCommand(o.endpoint, o.name)},
                     o.wait)
      .status();
}

struct LogsOptions {
  std::string name;
  std::string endpoint;
  int lines = 100;
  std::string instance;
  std::string container;
};

absl::Status GetLogs(Session& session, const LogsOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  std::string path = absl::StrCat(DeploymentPath(o.endpoint, o.name), "/logs?lines=", o.lines);
  if (!o.instance.empty()) absl::StrAppend(&path, "&instance=", EncodeComponent(o.instance));
  if (!o.container.empty()) absl::StrAppend(&path, "&container=", EncodeComponent(o.container));
  ASSIGN_OR_RETURN(std::string text, client->GetText(path));
  return session.PrintText(text);
}

void AddWriteOptions(CLI::App* c, WriteOptions& o, bool file_required) {
  AddDeploymentNames(c, o.name, o.endpoint, /*required=*/false);
  o.spec.Add(c, file_required, "deployment");
  c->add_flag("--all-traffic", o.all_traffic,
              "Once the deployment is Succeeded, route all live traffic of the endpoint to it "
              "(waits for the deployment even with --no-wait)");
  o.wait.Add(c, "the deployment is Succeeded or Failed");
  AddLocalFlag(c);
}

}  // namespace

void AddDeploymentCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "online-deployment", "Manage online deployments: model, code and compute behind an endpoint");
  group->require_subcommand(1);

  {
    CLI::App* c = group->add_subcommand(
        "create",
        "Create a deployment from a YAML file (fails if it exists): packs and uploads the model "
        "and code folders, then waits until it is Succeeded");
    AddWriteOptions(c, *Bind(c, action, &Create), /*file_required=*/true);
  }
  {
    CLI::App* c = group->add_subcommand(
        "update", "Update a deployment by merging the file and --set values (a rolling update)");
    AddWriteOptions(c, *Bind(c, action, &Update), /*file_required=*/false);
  }
  {
    CLI::App* c = group->add_subcommand("show", "Show a deployment with its instances");
    auto o = Bind(c, action, &Show);
    AddDeploymentNames(c, o->name, o->endpoint, /*required=*/true);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List the deployments of an endpoint");
    auto o = Bind(c, action, &List);
    c->add_option("-e,--endpoint-name,--endpoint", o->endpoint, "Endpoint name")->required();
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "delete", "Delete a deployment (asks for confirmation; refused while it has live traffic)");
    auto o = Bind(c, action, &Delete);
    AddDeploymentNames(c, o->name, o->endpoint, /*required=*/true);
    AddYesFlag(c, o->yes);
    o->wait.Add(c, "the deployment is gone");
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "get-logs", "Print the last lines of an instance's log (default: the newest instance)");
    auto o = Bind(c, action, &GetLogs);
    AddDeploymentNames(c, o->name, o->endpoint, /*required=*/true);
    c->add_option("-l,--lines", o->lines, "Number of lines from the end")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c->add_option("--instance", o->instance, "Instance id (see `online-deployment show`)");
    c->add_option("-c,--container", o->container,
                  "inference-server (default: the server's output) or storage-initializer (how "
                  "the model and code were put in place)")
        ->check(CLI::IsMember({"inference-server", "storage-initializer"}));
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
