#pragma once
// What the control plane tells the data plane: plain, immutable routing values and nothing that
// runs. Connection pools, admission gates, mirror queues and in-flight counters belong to the
// data plane, which builds them from these values (and drops them when an instance, deployment
// or endpoint leaves the snapshot).
//
// The supervisor builds a new RoutingSnapshot whenever endpoints, deployments or instance
// readiness change and hands it to a RoutingSink. Unchanged endpoints keep their
// shared_ptr<const EndpointRouting> from one snapshot to the next, so a change costs what
// changed, not the size of the fleet.
//
// Names: endpoint and deployment names are kept as written and matched case-insensitively
// (ASCII); `endpoints` is keyed by the lower-cased name, so is `EndpointRouting::deployments`.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/spec.h"

namespace berth::gateway {

// One ready instance of a deployment. `id` is unique within its deployment; a restarted
// instance keeps its id but gets a new `incarnation`, so the data plane opens new connections.
//
// How the instance is reached, first match wins (InstanceClient implementations follow it):
//   runner_sockets non-empty  berth runner frames (docs: the runner protocol), one Unix socket
//                             per runner worker process; HTTP is not spoken, host/port unused
//   http_socket non-empty     HTTP/1.1 over that Unix socket (berth-worker, the relay in front
//                             of a custom command); host/port unused
//   otherwise                 HTTP/1.1 over TCP to host:port
// and for OIP gRPC: grpc_socket non-empty -> `unix:<grpc_socket>`, else host:grpc_port when
// grpc_port != 0, else the instance serves no gRPC. Socket paths are absolute and private to
// berthd (0600 files in a 0700 folder).
struct InstanceAddress {
  int64_t id = 0;
  uint64_t incarnation = 0;
  std::string host = "127.0.0.1";
  int port = 0;       // HTTP/1.1
  int grpc_port = 0;  // OIP gRPC (berth-worker instances); 0 for other kinds
  std::string http_socket;
  std::string grpc_socket;
  std::vector<std::string> runner_sockets;  // worker-0.sock ... worker-<n-1>.sock, in order

  bool serves_grpc() const { return !grpc_socket.empty() || grpc_port != 0; }
  bool operator==(const InstanceAddress&) const = default;
};

struct DeploymentRouting {
  std::string name;  // as written
  core::RequestSettings request_settings;
  core::ServingRoutes routes;
  bool speaks_oip = false;             // berth-worker: serves /v2/... and gRPC
  std::vector<InstanceAddress> ready;  // instances passing readiness, in id order
  // With no ready instance, whether one is expected: instances are starting (a restart, a
  // rollout) or the deployment scales up from zero on demand. Requests then wait for it (at
  // most 2 x max_concurrent_requests_per_instance of them, each until its request_timeout_ms)
  // instead of failing at once, and the DemandObserver hears of them.
  bool expects_instances = false;
  // `request_settings.retry_on_instance_failure`: a request whose instance died before any byte
  // of an answer is sent once more, to another instance.
  bool retry_on_instance_failure = true;
};

struct EndpointRouting {
  std::string name;  // as written
  core::AuthMode auth_mode = core::AuthMode::kKey;
  std::string primary_key;
  std::string secondary_key;
  std::string token_secret;
  // false: scoring requests are served only when they come through berthd's private listener
  // (--private-listen); on a public listener (the HTTP port, the gRPC port) a caller with a
  // valid credential gets 403 / PERMISSION_DENIED. Azure's `public_network_access: disabled`.
  bool public_network_access = true;
  // Deployment name (as written) -> percent, as declared.
  std::map<std::string, int> traffic;
  std::map<std::string, int> mirror_traffic;
  // Keyed by the lower-cased deployment name.
  std::map<std::string, std::shared_ptr<const DeploymentRouting>> deployments;

  // Case-insensitive lookup; nullptr when absent.
  const std::shared_ptr<const DeploymentRouting>* FindDeployment(std::string_view name) const;
};

struct RoutingSnapshot {
  uint64_t version = 0;  // increases with every snapshot a publisher builds
  // Keyed by the lower-cased endpoint name.
  std::map<std::string, std::shared_ptr<const EndpointRouting>> endpoints;

  // Case-insensitive lookup; nullptr when absent.
  const EndpointRouting* FindEndpoint(std::string_view name) const;
};

// ASCII lower case: the key of a name in the maps above.
std::string NameKey(std::string_view name);

// A deployment's load as the data plane sees it, for the autoscaler.
struct DeploymentLoad {
  int running = 0;        // admitted requests in flight
  int waiting = 0;        // requests queued at admission (also those waiting for an instance)
  uint64_t arrivals = 0;  // requests routed to the deployment since the data plane started
};

// What the data plane tells the control plane: a request is waiting for a deployment that has
// no ready instance (scaled to zero, or all of them restarting). Called on a data-plane thread
// for every such request; must not block (post the work elsewhere).
class DemandObserver {
 public:
  virtual ~DemandObserver() = default;
  virtual void OnDemand(const std::string& endpoint, const std::string& deployment) = 0;
};

// Where the control plane publishes routes, and what it asks of the data plane while it
// drains instances and scales. Implemented by the data plane (Router) and by FakeRoutingSink in
// tests.
//
// Threading: both methods may be called from any thread and never block on I/O. Publish() takes
// effect for requests that arrive after it returns.
class RoutingSink {
 public:
  virtual ~RoutingSink() = default;
  virtual void Publish(std::shared_ptr<const RoutingSnapshot> snapshot) = 0;
  // Requests forwarded to this instance (any incarnation) and not yet answered, mirrored copies
  // included. 0 for an instance the data plane does not know.
  virtual int InFlight(std::string_view endpoint, std::string_view deployment,
                       int64_t instance_id) const = 0;
  // The deployment's load now; zeros for a deployment the data plane does not know.
  virtual DeploymentLoad Load(std::string_view endpoint, std::string_view deployment) const = 0;
};

}  // namespace berth::gateway
