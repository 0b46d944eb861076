#pragma once
// DeclaredStateReader: reads what users declared (endpoint and deployment records) from the
// StateStore into typed values for the supervisor: specs parsed once, an endpoint's secrets
// unsealed only when its record is read (that is, when it changed), and the highest instance
// folder on disk (instance ids continue across berthd restarts).
//
// Threading: blocking (storage reads, a directory scan); thread-safe. The supervisor calls it
// at start, on the thread of a management write that changed something (Notify), and on its
// blocking executor — never on its control executor or a data-plane thread.
// Errors: storage errors are returned; a record that does not parse or whose secrets do not
// unseal is logged and left out (as if absent), so one bad record cannot stop the others.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/secrets.h"
#include "core/spec.h"
#include "state/state_store.h"

namespace berth::controlplane {

struct DeclaredEndpoint {
  state::EndpointRecord record;
  core::EndpointSpec spec;
  std::string primary_key;
  std::string secondary_key;
  std::string token_secret;
};

struct DeclaredDeployment {
  state::DeploymentRecord record;
  core::DeploymentSpec spec;
  int64_t highest_instance_dir = 0;  // 0 when it has no instance folder yet
};

// What was read about one endpoint.
struct DeclaredChange {
  std::string endpoint;
  // The endpoint record was read: `declared` is its current value, nullopt when it is gone.
  bool endpoint_read = false;
  std::optional<DeclaredEndpoint> declared;
  // `deployments` lists every deployment of the endpoint: any other one is gone.
  bool all_deployments = false;
  std::vector<DeclaredDeployment> deployments;
  std::vector<std::string> gone;  // deployments read and not found
};

class DeclaredStateReader {
 public:
  DeclaredStateReader(state::StateStore& store, const auth::SecretBox& secrets,
                      std::filesystem::path instances_dir);

  // Every endpoint with all its deployments (start-up).
  absl::StatusOr<std::vector<DeclaredChange>> ReadAll();
  // One endpoint with all its deployments (`deployment` empty), or one deployment only.
  absl::StatusOr<DeclaredChange> Read(const std::string& endpoint, const std::string& deployment);

 private:
  std::optional<DeclaredEndpoint> Endpoint(state::EndpointRecord record);
  std::optional<DeclaredDeployment> Deployment(state::DeploymentRecord record);
  absl::Status ReadDeployments(DeclaredChange& change);

  state::StateStore& store_;
  const auth::SecretBox& secrets_;
  std::filesystem::path instances_dir_;
};

// The highest numbered instance folder under `dir` (0 when none).
int64_t HighestInstanceDir(const std::filesystem::path& dir);

}  // namespace berth::controlplane
