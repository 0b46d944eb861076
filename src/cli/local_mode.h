#pragma once
// `--local`, as Azure's `az ml ... --local`: one endpoint with one deployment run on this
// machine with no berthd. The deployment's process runs in the background (detached, so it
// outlives the CLI), is tracked in the local state folder (local_state.h) and stopped by
// delete. Local endpoints have no authentication; auth_mode is recorded, not enforced. Model
// and code come from local files only (no uploads, no registered models).
//
// The commands in commands_endpoint.cc / commands_deployment.cc build their document as usual
// and hand over here when --local is given; nothing here needs BERTH_URL or a token.

#include <string>

#include "absl/status/status.h"
#include "cli/command_support.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// Adds `--local` to a command.
void AddLocalFlag(CLI::App* command, bool* local);

// ---- online-endpoint --------------------------------------------------------------------

// `doc` is the complete endpoint document (file, --set, --name).
absl::Status LocalEndpointCreate(Session& session, const nlohmann::json& doc,
                                 const std::string& spec_file, OutputFormat format);
absl::Status LocalEndpointShow(Session& session, const std::string& name, OutputFormat format);
absl::Status LocalEndpointList(Session& session, OutputFormat format);
// Stops the deployment's process and removes the endpoint's folder.
absl::Status LocalEndpointDelete(Session& session, const std::string& name, bool yes);
// POSTs the file to the deployment's scoring route; the model's answer is passed on as is.
absl::Status LocalEndpointInvoke(Session& session, const std::string& name,
                                 const std::string& request_file, const std::string& deployment);

// ---- online-deployment ------------------------------------------------------------------

struct LocalDeploymentWrite {
  nlohmann::json doc;     // the document from the file and --set (partial for update)
  std::string name;       // the deployment
  std::string endpoint;   // its endpoint
  std::string spec_file;  // "" without -f; relative paths in it resolve against its folder
  bool no_wait = false;
  int timeout_s = 600;
  OutputFormat format = OutputFormat::kJson;
};

absl::Status LocalDeploymentCreate(Session& session, const LocalDeploymentWrite& write);
// Merges the document into the deployment's spec and restarts it (stop old, start new).
absl::Status LocalDeploymentUpdate(Session& session, const LocalDeploymentWrite& write);
absl::Status LocalDeploymentShow(Session& session, const std::string& endpoint,
                                 const std::string& name, OutputFormat format);
absl::Status LocalDeploymentList(Session& session, const std::string& endpoint,
                                 OutputFormat format);
absl::Status LocalDeploymentDelete(Session& session, const std::string& endpoint,
                                   const std::string& name, bool yes);
absl::Status LocalDeploymentGetLogs(Session& session, const std::string& endpoint,
                                    const std::string& name, int lines);

}  // namespace berth::cli
