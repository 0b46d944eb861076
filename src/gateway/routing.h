#pragma once
// The data plane's view of endpoints: an immutable snapshot the control plane publishes
// whenever endpoints, deployments or instance readiness change. Gates, pools and counters are
// shared_ptrs the control plane keeps across snapshots, so admission state and connections
// survive a republish.

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/spec.h"
#include "gateway/admission_gate.h"
#include "gateway/traffic_splitter.h"
#include "http/upstream_pool.h"

namespace berth::gateway {

struct InstanceTarget {
  int64_t id = 0;
  int port = 0;
  int grpc_port = 0;  // berth-worker instances: their OIP gRPC port; 0 for other kinds
  std::shared_ptr<http::UpstreamPool> pool;
  std::shared_ptr<std::atomic<int>> outstanding;  // requests sent and not yet answered
};

// Mirrored copies bound for one deployment: a bounded FIFO drained with bounded concurrency, so
// a slow mirror target never holds more than `capacity` copies and never slows the client path.
struct MirrorQueue {
  absl::Mutex mu;
  std::deque<http::Request> waiting ABSL_GUARDED_BY(mu);
  int in_flight ABSL_GUARDED_BY(mu) = 0;
};

struct DeploymentRoute {
  std::string name;
  core::RequestSettings request_settings;
  core::ServingRoutes routes;
  std::vector<InstanceTarget> ready;  // instances passing readiness
  std::shared_ptr<AdmissionGate> gate;
  std::shared_ptr<MirrorQueue> mirror_queue;  // copies waiting for / on their way to this one

  AdmissionLimits limits() const {
    return {request_settings.max_concurrent_requests_per_instance, static_cast<int>(ready.size()),
            std::chrono::milliseconds(request_settings.max_queue_wait_ms)};
  }
};

struct EndpointRoute {
  std::string name;
  core::AuthMode auth_mode = core::AuthMode::kKey;
  std::string primary_key;
  std::string secondary_key;
  std::string token_secret;
  std::optional<TrafficSplitter> splitter;
  std::map<std::string, std::shared_ptr<const DeploymentRoute>> deployments;
};

using RoutingTable = std::map<std::string, std::shared_ptr<const EndpointRoute>>;

}  // namespace berth::gateway
