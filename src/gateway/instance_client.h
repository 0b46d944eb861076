#pragma once
// InstanceClient: how the Router reaches an instance, whatever the protocol. An adapter (REST,
// gRPC, later batch) wraps its request in an InstanceCall, hands it to Router::Route together
// with the client that speaks its protocol, and reads the instance's answer back from the call.
// The router never looks inside a call: it only chooses where and until when it is sent.
//
// Implementations: HttpInstanceClient (HTTP/1.1 keep-alive pools, one client per data-plane
// thread), GrpcInstanceClient (OIP gRPC channels), FakeInstanceClient (tests).

#include <memory>

#include "absl/status/status.h"
#include "common/clock.h"
#include "gateway/route_snapshot.h"
#include "http/asio.h"

namespace berth::gateway {

// One request on its way to an instance, owned by the adapter that made it. After Send() the
// instance's answer (any status the model gave) is in the call, in the adapter's terms.
class InstanceCall {
 public:
  virtual ~InstanceCall() = default;
  // Called once the deployment is chosen, before Send(): the call sets what depends on it (the
  // deployment's scoring or swagger route).
  virtual void Bind(const DeploymentRouting& deployment) = 0;
  // A copy for the mirror deployment: the request only (headers, body, metadata), sharing the
  // body rather than copying it where the protocol allows. The copy outlives this call.
  virtual std::unique_ptr<InstanceCall> CloneForMirror() const = 0;
};

// Threading: Send() is awaited on a data-plane thread and completes on the executor it was
// awaited on. Release() may be called from any thread.
class InstanceClient {
 public:
  virtual ~InstanceClient() = default;

  // Sends `call` to `instance`; the answer must come before `deadline`. OK once the instance
  // answered (whatever its status). Errors:
  //   DEADLINE_EXCEEDED   no answer by the deadline; the exchange is abandoned so the instance
  //                       sees the cancel (connection closed / call cancelled)
  //   UNAVAILABLE         the instance could not be reached (nothing was sent)
  //   ABORTED             the instance failed after the request was sent; marked by
  //                       http::NoAnswerError when no byte of an answer had come back (the
  //                       router may then send it to another instance)
  //   RESOURCE_EXHAUSTED  the answer is larger than the client's limit
  //   CANCELLED           the caller cancelled the call (the client went away)
  virtual http::Awaitable<absl::Status> Send(const InstanceAddress& instance, InstanceCall& call,
                                             SteadyTime deadline) = 0;

  // Where Send() must be awaited: the client's data-plane thread.
  virtual http::asio::any_io_executor Executor() const = 0;

  // The instance left the routing table: close what is kept open for it.
  virtual void Release(const InstanceAddress& instance) = 0;
};

}  // namespace berth::gateway
