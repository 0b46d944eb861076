#pragma once
// The supervisor's own records of deployments, endpoints and instances (what it launched and
// observed). Private to the supervisor: included by supervisor.cc and
// supervisor/routing_and_views.cc only. Guarded by Supervisor::mu_.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "controlplane/autoscaler.h"
#include "controlplane/supervisor.h"
#include "controlplane/supervisor/launcher.h"

namespace berth::controlplane {

struct Supervisor::Instance {
  int64_t id = 0;
  uint64_t incarnation = 0;  // changes on every launch; stale results are ignored
  std::string template_hash;
  InstancePhase phase = InstancePhase::kStarting;
  bool launching = false;  // the Launcher is preparing it on the blocking executor
  bool ever_ready = false;
  SteadyTime started_at;
  SteadyTime exited_at;
  int exit_code = -1;
  int exit_signal = 0;
  std::string exit_limit;  // the resource limit that ended it, if the driver knows
  int restarts = 0;        // since last ready (drives backoff)
  int total_restarts = 0;  // shown to users
  std::optional<compute::InstanceId> process;
  InstanceEndpoints endpoints;  // how berthd reaches it
  // Probes.
  SteadyTime next_readiness;
  SteadyTime next_liveness;
  bool readiness_in_flight = false;
  bool liveness_in_flight = false;
  int readiness_successes = 0;
  int readiness_failures = 0;
  int liveness_failures = 0;
  // Stopping.
  SteadyTime stop_requested;
  bool stop_sent = false;
  std::filesystem::path log_file;
  // Launched while its deployment had no ready instance (from zero, or replacing the only
  // one): readiness is probed at once and every tick, not after initial_delay and period.
  bool cold = false;
};

// One scaling decision, as `online-deployment show` lists it.
struct ScaleEvent {
  SystemTime at;
  int from = 0;
  int to = 0;
  std::string reason;
};

struct Supervisor::Deployment {
  std::string key;
  state::DeploymentRecord record;
  core::DeploymentSpec spec;
  std::string launch_hash;    // of the fields that decide how instances are launched
  std::string template_hash;  // launch_hash + the generation that introduced it
  std::map<int64_t, Instance> instances;
  int64_t next_instance_id = 1;
  bool native = false;    // berth-worker serves it (known once an instance was launched)
  bool removing = false;  // the Cleaner is finishing its delete
  // Instances wanted now: instance_count, or the autoscaler's answer.
  int desired = 1;
  std::optional<Autoscaler> autoscaler;  // scale_settings.type target_utilization
  uint64_t arrivals_seen = 0;            // DeploymentLoad::arrivals at the last sample
  std::deque<ScaleEvent> scale_events;   // the latest decisions, oldest first
};

struct Supervisor::Endpoint {
  DeclaredEndpoint declared;
  bool removing = false;  // the Cleaner is finishing its delete
};

// Defined here so that every file of the supervisor can use it.
template <typename Job, typename Done>
void Supervisor::RunBlocking(const http::asio::any_io_executor& on, Job job, Done done) {
  http::asio::post(on, [this, job = std::move(job), done = std::move(done)]() mutable {
    if (!running_) return;  // shutting down: the work is moot
    auto result = job();
    http::asio::post(control_,
                     [this, done = std::move(done), result = std::move(result)]() mutable {
                       if (running_) done(std::move(result));
                     });
  });
}

}  // namespace berth::controlplane
