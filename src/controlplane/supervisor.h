#pragma once
// Supervisor: the control plane's executor. On a periodic tick it reloads the declared state
// from the StateStore when told it changed, observes instances (exits, readiness and liveness
// probes), asks Reconcile() what to do, carries the actions out through the ComputeDriver,
// records deployment outcomes, and publishes routes to the data plane (a gateway::RoutingSink).
//
// Threading: the tick and probe completions run on the io_context given at construction
// (one thread). Notify() and the InstanceObserver methods may be called from any thread.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "auth/secrets.h"
#include "common/clock.h"
#include "compute/compute_driver.h"
#include "controlplane/artifact_store.h"
#include "controlplane/management_service.h"
#include "controlplane/model_registry.h"
#include "controlplane/reconciler.h"
#include "core/spec.h"
#include "gateway/route_snapshot.h"
#include "http/asio.h"
#include "state/state_store.h"

namespace berth::controlplane {

struct SupervisorOptions {
  std::filesystem::path data_dir;
  std::chrono::milliseconds tick{100};
  std::chrono::milliseconds stop_grace{10000};  // SIGTERM, then SIGKILL after this
  int reason_log_lines = 20;                    // log tail quoted in a failure reason
  std::string python = "/usr/bin/python3";      // interpreter for scoring scripts and MLflow
  std::filesystem::path python_dir;             // berth's Python packages (berth_runner)
  std::filesystem::path worker;                 // the berth-worker executable
  // Largest answer body read from an instance (--max-response-body).
  uint64_t max_response_body_bytes = 100ull << 20;
};

class Supervisor final : public InstanceObserver {
 public:
  Supervisor(http::asio::io_context& io, state::StateStore& store, const auth::SecretBox& secrets,
             ArtifactStore& artifacts, compute::ComputeDriver& driver, gateway::RoutingSink& routes,
             const Clock& clock, SupervisorOptions options);
  ~Supervisor() override;

  // Loads the declared state and starts the tick loop.
  void Start();
  // Where deployment outcomes and finished deletes are recorded (serialised with management
  // writes). Set before Start().
  void SetRecorder(ManagementService* recorder) { recorder_ = recorder; }
  // Where `model: azureml:...` references find their files. Set before Start().
  void SetModelRegistry(ModelRegistry* models) { models_ = models; }
  // The declared state changed: reload it and republish routes now, so a request sent after a
  // management call returns sees its effect. Instances are started and stopped on the tick.
  void Notify();
  // Stops the tick loop and every instance (SIGTERM, SIGKILL after the grace period). Blocks.
  void Shutdown();

  nlohmann::json InstancesJson(const std::string& endpoint,
                               const std::string& deployment) const override;
  std::optional<std::filesystem::path> LogFile(const std::string& endpoint,
                                               const std::string& deployment,
                                               int64_t instance) const override;

 private:
  struct Instance;
  struct Deployment;
  struct Endpoint;
  enum class ProbeKind { kReadiness, kLiveness };

  http::Awaitable<void> Loop();
  void Tick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Reload() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ObserveExits(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DriveStops(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleProbes(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyActions(Deployment& d, const std::vector<Action>& actions, SteadyTime now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(Deployment& d, Instance& instance, SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetDeploymentState(Deployment& d, core::ProvisioningState state, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishEndpointDeletes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Awaitable<void> Probe(std::string key, int64_t id, uint64_t incarnation, ProbeKind kind,
                              int port, std::string path, std::chrono::milliseconds timeout);
  void OnProbeResult(const std::string& key, int64_t id, uint64_t incarnation, ProbeKind kind,
                     bool healthy, const std::string& detail);
  std::filesystem::path InstanceDir(const Deployment& d, int64_t id) const;

  http::asio::io_context& io_;
  state::StateStore& store_;
  const auth::SecretBox& secrets_;
  ArtifactStore& artifacts_;
  compute::ComputeDriver& driver_;
  gateway::RoutingSink& routes_;
  const Clock& clock_;
  SupervisorOptions options_;

  ManagementService* recorder_ = nullptr;
  ModelRegistry* models_ = nullptr;
  std::atomic<bool> dirty_{true};
  std::atomic<bool> running_{false};
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_ ABSL_GUARDED_BY(mu_);
  // Keyed "<endpoint>/<deployment>".
  std::map<std::string, std::unique_ptr<Deployment>> deployments_ ABSL_GUARDED_BY(mu_);
  uint64_t next_incarnation_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t published_version_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<http::asio::steady_timer> timer_;
};

}  // namespace berth::controlplane
