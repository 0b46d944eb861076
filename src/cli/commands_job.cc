// `berth job ...`: show, list, cancel, download, stream — the jobs batch endpoints start
// (docs/batch.md, "Job as returned"), shaped like `az ml job`.

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "archive/tar_extract.h"
#include "cli/command_support.h"
#include "cli/job_progress.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

using nlohmann::json;

// Failed mini-batch attempts printed when a streamed job fails; `berth job show` has them all.
constexpr size_t kErrorsShown = 5;

struct NameOptions {
  std::string name;
};

absl::Status Show(Session& session, const NameOptions& o) {
  return PrintResource(session, JobPath(o.name), ResourceKind::kJob);
}

struct ListOptions {
  std::string endpoint;
  std::string deployment;
};

absl::Status List(Session& session, const ListOptions& o) {
  std::string path = "/jobs";
  std::string separator = "?";
  if (!o.endpoint.empty()) {
    absl::StrAppend(&path, separator, "endpoint=", EncodeComponent(o.endpoint));
    separator = "&";
  }
  if (!o.deployment.empty()) {
    absl::StrAppend(&path, separator, "deployment=", EncodeComponent(o.deployment));
  }
  return PrintList(session, path, ResourceKind::kJob);
}

absl::Status Cancel(Session& session, const NameOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  ASSIGN_OR_RETURN(json job, client->Post(JobPath(o.name) + "/cancel"));
  return session.Print(job, ResourceKind::kJob);
}

struct DownloadOptions {
  std::string name;
  std::string output_name = "score";
  std::string download_path = ".";
  bool all = false;
};

absl::Status Download(Session& session, const DownloadOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  const std::string query = o.all ? "?all=true" : "?output=" + EncodeComponent(o.output_name);
  ASSIGN_OR_RETURN(std::string tar,
                   client->GetBytes(JobPath(o.name) + "/download" + query, "application/x-tar"));
  RETURN_IF_ERROR(archive::ExtractTar(tar, o.download_path, "download"));
  const std::filesystem::path outputs =
      std::filesystem::path(o.download_path) / "named-outputs" / (o.all ? "" : o.output_name);
  session.err() << "Downloaded " << (o.all ? "the outputs and logs" : "output " + o.output_name)
                << " of job " << o.name << " to " << outputs.string() << "\n"
                << std::flush;
  return absl::OkStatus();
}

// Why a job did not complete: its `error`, then the first failed mini-batch attempts.
absl::Status JobFailure(Session& session, const json& job, const std::string& name,
                        const std::string& status) {
  if (auto errors = job.find("errors"); errors != job.end() && errors->is_array()) {
    for (size_t i = 0; i < errors->size() && i < kErrorsShown; ++i) {
      const json& e = (*errors)[i];
      if (!e.is_object()) continue;
      std::vector<std::string> files;
      if (auto f = e.find("files"); f != e.end() && f->is_array()) {
        for (const json& file : *f) {
          if (file.is_string()) files.push_back(file.get<std::string>());
        }
      }
      session.err() << "  mini-batch " << e.value("mini_batch", json()).dump() << ", attempt "
                    << e.value("attempt", json()).dump() << " (" << absl::StrJoin(files, ", ")
                    << "): " << StringField(e, "message") << "\n";
    }
    if (errors->size() > kErrorsShown) {
      session.err() << "  ... see `berth job show -n " << name << "` for all " << errors->size()
                    << "\n";
    }
  }
  session.err() << std::flush;
  const std::string error = StringField(job, "error");
  return absl::FailedPreconditionError(
      absl::StrCat("job ", name, " ", status, error.empty() ? "" : ": ", error));
}

absl::Status Stream(Session& session, const NameOptions& o) {
  ASSIGN_OR_RETURN(ApiClient * client, session.Client());
  WaitEnv env = session.MakeWaitEnv();
  env.interval = kJobStreamInterval;
  const std::string log_path = JobPath(o.name) + "/log?offset=";
  ASSIGN_OR_RETURN(json job, StreamJobLog(
                                 [client, &log_path](int64_t offset) {
                                   return client->Get(absl::StrCat(log_path, offset));
                                 },
                                 env, session.out()));
  const std::string status = StringField(job, "status");
  session.err() << "Job " << o.name << ": " << status << "\n" << std::flush;
  if (status == "Completed") return absl::OkStatus();
  return JobFailure(session, job, o.name, status);
}

void AddNameCommand(CLI::App* group, Action* action, const std::string& verb,
                    const std::string& help, absl::Status (*run)(Session&, const NameOptions&)) {
  CLI::App* c = group->add_subcommand(verb, help);
  auto o = Bind(c, action, run);
  c->add_option("-n,--name", o->name, "Job name")->required();
  AddLocalFlag(c);
}

}  // namespace

void AddJobCommands(CLI::App& app, Action* action) {
  CLI::App* group =
      app.add_subcommand("job", "Follow, cancel and download the jobs of batch endpoints");
  group->require_subcommand(1);
  AddNameCommand(group, action, "show", "Show a job with its progress and errors", &Show);
  {
    CLI::App* c = group->add_subcommand("list", "List jobs, newest first");
    auto o = Bind(c, action, &List);
    c->add_option("-e,--endpoint-name", o->endpoint, "Only the jobs of this batch endpoint");
    c->add_option("-d,--deployment-name", o->deployment, "Only the jobs of this deployment");
    AddLocalFlag(c);
  }
  AddNameCommand(group, action, "cancel",
                 "Ask a job to stop (it goes to CancelRequested, then Canceled) and show it",
                 &Cancel);
  {
    CLI::App* c = group->add_subcommand(
        "download",
        "Download a job's output (named-outputs/<output>/...) or, with --all, its outputs and "
        "logs");
    auto o = Bind(c, action, &Download);
    c->add_option("-n,--name", o->name, "Job name")->required();
    c->add_option("--output-name", o->output_name, "The output to download")->capture_default_str();
    c->add_option("-p,--download-path", o->download_path, "Folder to download into")
        ->capture_default_str();
    c->add_flag("--all", o->all,
                "Download every output and the logs (artifacts/logs, artifacts/azureml-logs)");
    AddLocalFlag(c);
  }
  AddNameCommand(group, action, "stream",
                 "Print a job's driver log as it grows, with its progress on stderr, until the "
                 "job ends; exits 1 unless it Completed",
                 &Stream);
}

}  // namespace berth::cli
