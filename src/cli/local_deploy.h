#pragma once
// What the `--local` commands (commands_local.cc) share: opening the state folder, observing a
// deployment's process, and the create/update pipeline: validate the spec, copy the model and
// code into the endpoint's folder, start the process detached (core::PlanLaunch decides its
// command line and environment, as on berthd) and wait until its readiness route answers.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/command_support.h"
#include "cli/local_mode.h"
#include "cli/local_state.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

// As on the server: SIGTERM, then SIGKILL after this long.
inline constexpr std::chrono::milliseconds kLocalStopGrace{10000};

// The state folder from the session's environment.
absl::StatusOr<LocalStore> OpenLocalStore(Session& session);

// Stops use the session's clock and sleep.
StopEnv MakeLocalStopEnv(Session& session);

// Checks the process and, while it is still starting, asks its readiness route once.
LocalObservation ObserveLocal(Session& session, const LocalDeploymentRecord& record);

// The endpoint's deployment if it is named `name`; NOT_FOUND otherwise.
absl::StatusOr<LocalDeploymentRecord> FindLocalDeployment(const LocalStore& store,
                                                          const std::string& endpoint,
                                                          const std::string& name);

// DeploymentView with what ObserveLocal sees now.
nlohmann::json LocalViewOf(Session& session, const LocalStore& store, const std::string& endpoint,
                           const LocalDeploymentRecord& record);

// Where model and code are copied from (absolute paths).
struct LocalSources {
  std::string model;
  std::string code;
};

// A validated deployment, ready to be staged and started.
struct PreparedDeployment {
  core::DeploymentSpec spec;
  std::vector<std::string> warnings;
  LocalSources sources;
};

// Validates `doc`, the complete spec. Model and code come from the paths `fresh` (the file or
// --set given now) names, resolved against `spec_file`'s folder, else from `previous` (what an
// update's deployment was copied from). Registered models are refused: local files only.
absl::StatusOr<PreparedDeployment> PrepareLocalDeployment(const nlohmann::json& doc,
                                                          const nlohmann::json& fresh,
                                                          const std::string& spec_file,
                                                          const LocalSources& previous);

// Create (`previous` empty) or update: copies the files, stops the previous process, starts the
// new one, records it, waits for readiness unless --no-wait, and prints the deployment. A start
// that fails stops the process, records the deployment Failed with the log's last lines, and is
// FAILED_PRECONDITION.
absl::Status DeployLocal(Session& session, const LocalDeploymentWrite& write,
                         const PreparedDeployment& prepared,
                         std::optional<LocalDeploymentRecord> previous);

}  // namespace berth::cli
