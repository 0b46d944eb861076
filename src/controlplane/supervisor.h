#pragma once
// Supervisor: the control plane's executor. It keeps the declared state it was told about
// (DeclaredStateReader), observes instances (exits from the ComputeDriver, readiness and
// liveness through a Prober), asks Reconcile() what to do, has the Launcher and the Cleaner
// carry it out, records deployment outcomes (OutcomeRecorder), and publishes plain routing
// values to the data plane (RoutePublisher -> gateway::RoutingSink). Its parts live in
// controlplane/supervisor/; this class only orchestrates them.
//
// Threading:
// - `control` (one thread, or a strand) runs the tick, probe completions and the completions
//   of blocking jobs. Nothing on it blocks: no file copies, storage, spawning or folder
//   removal. It is never the data plane's thread.
// - `blocking` (a pool) runs the blocking jobs — launches, outcome writes, folder removal,
//   log appends (the last three in order, on a strand) — and posts their results back to
//   `control`.
// - Notify() runs on the caller's thread (a management worker): it reads the changed records
//   there and applies them under the supervisor's lock, which is only ever held for in-memory
//   work. InstancesJson(), LiveJson(), LogFile() and OnDemand() may be called from any thread.
// Scaling: instance_count instances, or (scale_settings target_utilization) what the
// Autoscaler decides from the data plane's load (RoutingSink::Load) every polling_interval; a
// request waiting for a deployment scaled to zero wakes it at once (OnDemand).
// Declared state is read once at Start() and afterwards only what Notify() names; routing is
// republished only for endpoints whose routing changed.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "auth/secrets.h"
#include "common/clock.h"
#include "compute/compute_driver.h"
#include "controlplane/autoscaler.h"
#include "controlplane/management_service.h"
#include "controlplane/reconciler.h"
#include "controlplane/supervisor/cleaner.h"
#include "controlplane/supervisor/declared_state.h"
#include "controlplane/supervisor/launcher.h"
#include "controlplane/supervisor/outcome_recorder.h"
#include "controlplane/supervisor/prober.h"
#include "controlplane/supervisor/route_publisher.h"
#include "core/spec.h"
#include "gateway/metrics.h"
#include "gateway/route_snapshot.h"
#include "http/asio.h"
#include "state/state_store.h"

namespace berth::controlplane {

struct SupervisorOptions {
  std::filesystem::path data_dir;
  std::chrono::milliseconds tick{100};
  std::chrono::milliseconds stop_grace{10000};  // SIGTERM, then SIGKILL after this
  int reason_log_lines = 20;                    // log tail quoted in a failure reason
};

class Supervisor final : public InstanceObserver, public gateway::DemandObserver {
 public:
  Supervisor(http::asio::any_io_executor control, http::asio::any_io_executor blocking,
             state::StateStore& store, const auth::SecretBox& secrets, Launcher& launcher,
             Prober& prober, compute::ComputeDriver& driver, gateway::RoutingSink& routes,
             const Clock& clock, SupervisorOptions options);
  ~Supervisor() override;

  // Where deployment outcomes and finished deletes are recorded. Set before Start().
  void SetRecorder(OutcomeRecorder* recorder);
  // Where instance counts, usage and scaling decisions are counted. Optional; set before
  // Start().
  void SetMetrics(gateway::Metrics* metrics);
  // Reads the declared state (blocking, on the caller's thread), publishes routes and starts
  // the tick loop on `control`.
  void Start();
  // Endpoint `endpoint` (`deployment` empty: the endpoint and all its deployments) or one
  // deployment changed in the StateStore: re-read just that and republish its endpoint's
  // routes before returning, so a request sent after a management call returns sees its
  // effect. Instances are started and stopped on the tick. Blocking (storage reads).
  void Notify(const std::string& endpoint, const std::string& deployment);
  // Stops the tick loop and every instance (SIGTERM, SIGKILL after the grace period). Blocks.
  void Shutdown();

  nlohmann::json InstancesJson(const std::string& endpoint,
                               const std::string& deployment) const override;
  std::optional<std::filesystem::path> LogFile(const std::string& endpoint,
                                               const std::string& deployment,
                                               int64_t instance) const override;
  nlohmann::json LiveJson(const std::string& endpoint,
                          const std::string& deployment) const override;

  // A request waits for a deployment with no ready instance: a deployment scaled to zero
  // starts one at once. Any thread; posts to `control`.
  void OnDemand(const std::string& endpoint, const std::string& deployment) override;

 private:
  struct Instance;
  struct Deployment;
  struct Endpoint;
  enum class ProbeKind { kReadiness, kLiveness };

  http::Awaitable<void> Loop();
  void Tick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads what changed and applies it; also used after a superseded outcome write.
  void ReadAndApply(const std::string& endpoint, const std::string& deployment)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Re-reads what a superseded or failed write, or a failed read, concerned: on the blocking
  // executor, started by the next tick.
  void RefreshLater(const std::string& endpoint, const std::string& deployment)
      ABSL_LOCKS_EXCLUDED(mu_);
  void StartRefreshes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Follows the store's change feed: what another writer changed (another berthd sharing the
  // database) is read again like a Notify. When the feed no longer reaches back to what was
  // seen (OUT_OF_RANGE), every endpoint is read again.
  void FollowChanges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Apply(DeclaredChange change) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyDeployment(DeclaredDeployment declared) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetDeployment(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ObserveExits(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DriveStops(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleProbes(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyActions(Deployment& d, const std::vector<Action>& actions, SteadyTime now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Launch(Deployment& d, Instance& instance, SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnLaunched(const std::string& key, int64_t id, uint64_t incarnation, LaunchResult result);
  void SetDeploymentState(Deployment& d, core::ProvisioningState state, std::string reason,
                          std::filesystem::path tail_of) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveDeployment(Deployment& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishEndpointDeletes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnProbeResult(const std::string& key, int64_t id, uint64_t incarnation, ProbeKind kind,
                     const ProbeResult& result);
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reconciles one deployment now (the tick does every one).
  void ReconcileDeployment(Deployment& d, SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets up or updates the autoscaler after the deployment's spec changed.
  void ConfigureScaling(Deployment& d, bool new_template, SteadyTime now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Samples the load of autoscaled deployments that are due and applies the decisions.
  void Autoscale(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyScaleDecision(Deployment& d, const ScaleDecision& decision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Instance gauges every tick; usage (read on `blocking`) and stale series every few seconds.
  void UpdateMetrics(SteadyTime now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Deployments that OnDemand() heard of, woken on `control`.
  void WakeDemanded() ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const gateway::EndpointRouting> BuildRouting(const std::string& endpoint) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends a line to a log on the ordered blocking strand.
  void AppendLogLater(std::filesystem::path log_file, std::string line);
  // Runs `job` on `blocking`, then `done(result)` on `control`.
  template <typename Job, typename Done>
  void RunBlocking(const http::asio::any_io_executor& on, Job job, Done done);
  std::filesystem::path InstancesDir() const { return options_.data_dir / "instances"; }

  http::asio::any_io_executor control_;
  http::asio::any_io_executor blocking_;
  state::StateStore& store_;
  // Outcome writes, folder removal and log appends, in the order they were asked for.
  http::asio::strand<http::asio::any_io_executor> ordered_;
  DeclaredStateReader reader_;
  Launcher& launcher_;
  Prober& prober_;
  compute::ComputeDriver& driver_;
  const Clock& clock_;
  SupervisorOptions options_;

  OutcomeRecorder* recorder_ = nullptr;
  std::optional<Cleaner> cleaner_;
  std::atomic<bool> running_{false};
  // Serialises Notify()'s read-then-apply, so an older read is never applied after a newer one.
  absl::Mutex notify_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Endpoint>> endpoints_ ABSL_GUARDED_BY(mu_);
  // Keyed "<endpoint>/<deployment>".
  std::map<std::string, std::unique_ptr<Deployment>> deployments_ ABSL_GUARDED_BY(mu_);
  uint64_t next_incarnation_ ABSL_GUARDED_BY(mu_) = 1;
  // (endpoint, deployment or "") to read again (RefreshLater).
  std::set<std::pair<std::string, std::string>> refresh_ ABSL_GUARDED_BY(mu_);
  int64_t seen_revision_ ABSL_GUARDED_BY(mu_) = 0;  // the change feed is read from here
  bool following_ ABSL_GUARDED_BY(mu_) = false;     // a feed read is under way
  RoutePublisher publisher_ ABSL_GUARDED_BY(mu_);
  gateway::Metrics* metrics_ = nullptr;
  SteadyTime next_usage_sample_ ABSL_GUARDED_BY(mu_);
  bool sampling_usage_ ABSL_GUARDED_BY(mu_) = false;
  // "<endpoint>/<deployment>" keys OnDemand() heard of and WakeDemanded() has not handled.
  absl::Mutex demand_mu_;
  std::set<std::string> demanded_ ABSL_GUARDED_BY(demand_mu_);
  gateway::RoutingSink& routes_;
  std::unique_ptr<http::asio::steady_timer> timer_;
};

}  // namespace berth::controlplane
