// `berth batch-endpoint ...`: create, update, show, list, delete, invoke, list-jobs
// (docs/batch.md), shaped like `az ml batch-endpoint`.

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr char kBatchEndpoints[] = "/batch-endpoints";

// ---- create / update ---------------------------------------------------------------------

struct WriteOptions {
  std::string name;
  SpecOptions spec;
};

// The document from the file and --set; -n names it when the write is a whole document.
absl::StatusOr<std::pair<json, std::string>> BuildEndpointDocument(Session& session,
                                                                   const WriteOptions& o,
                                                                   bool partial) {
  SpecInput input = o.spec.ToInput(CurrentResource(session, BatchEndpointPath(o.name)));
  if ((!partial || input.file) && !o.name.empty()) input.overrides.emplace_back("name", o.name);
  ASSIGN_OR_RETURN(json doc, BuildSpecDocument(input));
  std::string name = o.name.empty() ? StringField(doc, "name") : o.name;
  if (name.empty()) {
    return UsageError("an endpoint name is required: pass --name or set `name` in the file");
  }
  return std::make_pair(std::move(doc), std::move(name));
}

// Azure's create overwrites an existing endpoint; berthd's PUT merges into it.
absl::Status Create(Session& session, const WriteOptions& o) {
  ASSIGN_OR_RETURN(auto built, BuildEndpointDocument(session, o, /*partial=*/false));
  return SendDocument(session, "PUT", BatchEndpointPath(built.second), built.first, o.spec.file,
                      ResourceKind::kBatchEndpoint);
}

absl::Status Update(Session& session, const WriteOptions& o) {
  if (!o.spec.given()) {
    return UsageError(
        "nothing to update: give -f/--file, --set, --add or --remove, e.g. --set "
        "defaults.deployment_name=blue");
  }
  ASSIGN_OR_RETURN(auto built, BuildEndpointDocument(session, o, /*partial=*/true));
  return SendDocument(session, "PATCH", BatchEndpointPath(built.second), built.first, o.spec.file,
                      ResourceKind::kBatchEndpoint);
}

// ---- read-only commands and delete -------------------------------------------------------

struct NameOptions {
  std::string name;
};

absl::Status Show(Session& session, const NameOptions& o) {
  return PrintResource(session, BatchEndpointPath(o.name), ResourceKind::kBatchEndpoint);
}

absl::Status List(Session& session, const NameOptions& o) {
  return PrintList(session, kBatchEndpoints, ResourceKind::kBatchEndpoint);
}

absl::Status ListJobs(Session& session, const NameOptions& o) {
  return PrintList(session, BatchEndpointPath(o.name) + "/jobs", ResourceKind::kJob);
}

struct DeleteOptions {
  std::string name;
  bool yes = false;
};

absl::Status Delete(Session& session, const DeleteOptions& o) {
  return ConfirmAndDelete(
      session, absl::StrCat("Delete batch endpoint ", o.name, " and all its deployments?"),
      BatchEndpointPath(o.name), absl::StrCat("Deleted batch endpoint ", o.name), o.yes);
}

// ---- invoke ------------------------------------------------------------------------------

struct InvokeOptions {
  std::string name;
  std::string deployment;
  std::string input;
  std::string input_type;
  std::string output_path;
  int mini_batch_size = 0;  // 0: not given
  int instance_count = 0;
  std::vector<std::string> set;
  std::string job_name;
  std::string priority;
  std::string experiment_name;
};

// berthd reads environment variables as strings; `--set environment_variables.N=3` gives a
// number.
void StringifyEnvironmentVariables(json& settings) {
  auto it = settings.find("environment_variables");
  if (it == settings.end() || !it->is_object()) return;
  for (auto& [key, value] : it->items()) {
    if (!value.is_string() && !value.is_structured() && !value.is_null()) value = value.dump();
  }
}

// The request's `settings` from --set: a leading "settings." is optional, and
// compute.instance_count (the Azure SDK's key) means instance_count.
absl::StatusOr<json> JobSettings(const InvokeOptions& o) {
  json settings = json::object();
  if (!o.set.empty()) {
    absl::StatusOr<json> update = core::SetAssignmentsToUpdate(o.set);
    if (!update.ok()) return UsageError(absl::StrCat("--set: ", update.status().message()));
    for (const auto& [key, value] : update->items()) {
      if (key == "settings" && value.is_object()) {
        settings = core::MergeSpec(settings, value);
      } else if (key == "compute" && value.is_object()) {
        for (const auto& [field, item] : value.items()) {
          if (field != "instance_count") {
            return UsageError(absl::StrCat("--set compute.", field,
                                           ": only compute.instance_count can be set per job"));
          }
          settings["instance_count"] = item;
        }
      } else {
        settings = core::MergeSpec(settings, json{{key, value}});
      }
    }
  }
  if (o.mini_batch_size > 0) settings["mini_batch_size"] = o.mini_batch_size;
  if (o.instance_count > 0) settings["instance_count"] = o.instance_count;
  StringifyEnvironmentVariables(settings);
  return settings;
}

// The job's input: a data asset or datastore path as given, or a local folder or file packed
// and uploaded first.
absl::StatusOr<json> JobInput(Session& session, const InvokeOptions& o) {
  json input = {{"type", o.input_type.empty() ? "uri_folder" : o.input_type}, {"path", o.input}};
  if (IsRemoteReference(o.input)) return input;
  ASSIGN_OR_RETURN(json artifact, UploadLocalPath(session, o.input, "", "--input"));
  if (o.input_type.empty() && artifact.value("is_file", false)) input["type"] = "uri_file";
  input["artifact"] = std::move(artifact);
  return input;
}

absl::Status Invoke(Session& session, const InvokeOptions& o) {
  json request = json::object();
  ASSIGN_OR_RETURN(json settings, JobSettings(o));
  if (!o.job_name.empty()) request["name"] = o.job_name;
  if (!o.deployment.empty()) request["deployment"] = o.deployment;
  ASSIGN_OR_RETURN(request["input"], JobInput(session, o));
  if (!o.output_path.empty()) request["output_path"] = o.output_path;
  if (!settings.empty()) request["settings"] = std::move(settings);
  if (!o.priority.empty()) request["priority"] = o.priority;
  if (!o.experiment_name.empty()) request["experiment_name"] = o.experiment_name;

  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  absl::StatusOr<json> job =
      client->Post(BatchEndpointPath(o.name) + "/jobs", request, /*create=*/true);
  if (absl::IsAlreadyExists(job.status())) {
    return absl::AlreadyExistsError(
        absl::StrCat("job ", o.job_name, " already exists; give another --job-name or none"));
  }
  if (!job.ok()) return job.status();
  PrintWarnings(*job, session.err());
  if (session.output_given()) return session.Print(*job, ResourceKind::kJob);
  // `JOB=$(berth batch-endpoint invoke ...)`, as `az ... --query name -o tsv` gives.
  session.out() << StringField(*job, "name") << "\n" << std::flush;
  return absl::OkStatus();
}

}  // namespace

void AddBatchEndpointCommands(CLI::App& app, Action* action) {
  CLI::App* group = app.add_subcommand(
      "batch-endpoint",
      "Manage batch endpoints: stable names that start scoring jobs over folders of files");
  group->require_subcommand(1);

  auto add_write = [](CLI::App* c, WriteOptions& o, const std::string& name_help) {
    c->add_option("-n,--name", o.name, name_help);
    o.spec.Add(c, /*file_required=*/false, "batch endpoint");
    AddLocalFlag(c);
  };
  {
    CLI::App* c = group->add_subcommand(
        "create", "Create a batch endpoint, or merge the file into the existing one");
    add_write(c, *Bind(c, action, &Create), "Endpoint name (wins over `name` in the file)");
  }
  {
    CLI::App* c = group->add_subcommand(
        "update",
        "Update a batch endpoint by merging the file and --set values, e.g. "
        "--set defaults.deployment_name=blue to switch the default deployment");
    add_write(c, *Bind(c, action, &Update), "Endpoint name (default: `name` in the file)");
  }
  {
    CLI::App* c = group->add_subcommand("show", "Show a batch endpoint");
    auto o = Bind(c, action, &Show);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand("list", "List batch endpoints");
    Bind(c, action, &List);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "delete", "Delete a batch endpoint and its deployments (asks for confirmation; jobs stay)");
    auto o = Bind(c, action, &Delete);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    AddYesFlag(c, o->yes);
    AddLocalFlag(c);
  }
  {
    CLI::App* c = group->add_subcommand(
        "invoke",
        "Start a scoring job over a folder or file and print the job's name (follow it with "
        "`berth job stream -n <job>`)");
    auto o = Bind(c, action, &Invoke);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    c->add_option("-d,--deployment-name", o->deployment,
                  "Deployment to run (default: the endpoint's defaults.deployment_name)");
    c->add_option("--input", o->input,
                  "What to score: a local folder or file (uploaded first), a data asset "
                  "(azureml:<name>:<version>, azureml:<name>@latest) or a datastore path "
                  "(azureml://datastores/<store>/paths/<path>)")
        ->required();
    c->add_option("--input-type", o->input_type,
                  "uri_folder or uri_file (default: uri_file for a local file, else uri_folder)")
        ->check(CLI::IsMember({"uri_folder", "uri_file"}));
    c->add_option("--output-path", o->output_path,
                  "Where the outputs go: azureml://datastores/<store>/paths/<path> (default: "
                  "the job's own folder in workspaceblobstore)");
    c->add_option("-m,--mini-batch-size", o->mini_batch_size,
                  "Files per run() call (default: the deployment's)")
        ->check(CLI::PositiveNumber);
    c->add_option("-c,--instance-count", o->instance_count,
                  "Instances that run the job (default: the deployment's)")
        ->check(CLI::PositiveNumber);
    c->add_option("--set", o->set,
                  "Override a deployment setting for this job: key=value with keys "
                  "mini_batch_size, instance_count (or compute.instance_count), "
                  "max_concurrency_per_instance, retry_settings.max_retries, "
                  "retry_settings.timeout, error_threshold, output_file_name, logging_level, "
                  "environment_variables.<NAME> (a leading `settings.` is optional; repeatable)");
    c->add_option("--job-name", o->job_name, "The job's name (default: a generated one)");
    c->add_option("--priority", o->priority,
                  "low or normal (default: low on a low_priority compute, else normal)")
        ->check(CLI::IsMember({"low", "normal"}));
    c->add_option("--experiment-name", o->experiment_name,
                  "Experiment the job is filed under (default: the endpoint's name)");
    AddLocalFlag(c);
  }
  {
    CLI::App* c =
        group->add_subcommand("list-jobs", "List the jobs of a batch endpoint, newest first");
    auto o = Bind(c, action, &ListJobs);
    c->add_option("-n,--name", o->name, "Endpoint name")->required();
    AddLocalFlag(c);
  }
}

}  // namespace berth::cli
