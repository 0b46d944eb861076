#pragma once
// HTTP side of the InstanceClient seam: HttpCall carries a REST request to an instance and its
// answer back; HttpInstanceClient sends it the way the InstanceAddress says (route_snapshot.h):
// berth runner frames to the least busy worker of a Python runner instance, HTTP/1.1 over a
// Unix socket, or HTTP/1.1 over TCP. Every transport keeps connections alive in per-instance
// pools, and every transport's answer comes back as the same http::Response, so the client
// sees the same response whichever one served it.
//
// Threading: one HttpInstanceClient per data-plane thread; Send() runs on that thread (its
// pools are not shared), Release() may be called from any thread and is carried out there.
// The runner workers' in-flight counts (RunnerLoad) are shared by all the threads' clients.

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/instance_client.h"
#include "gateway/runner_frames.h"
#include "gateway/runner_pool.h"
#include "http/upstream_pool.h"

namespace berth::gateway {

// Which path of the deployment an HttpCall goes to.
enum class HttpTarget {
  kScoringRoute,  // the deployment's scoring route (inference_config or /score)
  kSwaggerRoute,  // the deployment's swagger route, as a GET without body
  kAsGiven,       // the path the client gave (the Open Inference Protocol's /v2/...)
};

class HttpCall final : public InstanceCall {
 public:
  // `head` is the client's request head: hop-by-hop headers and the endpoint credential are
  // dropped here. `path` is used for kAsGiven; `query` ("" or without '?') is appended always.
  HttpCall(const http::RequestHead& head, std::shared_ptr<const std::string> body,
           HttpTarget target, std::string path, std::string query);

  void Bind(const DeploymentRouting& deployment) override;
  std::unique_ptr<InstanceCall> CloneForMirror() const override;

  // The client's address, passed on to runner instances (their frames carry it).
  void set_client(runner::ClientAddress client) { client_ = std::move(client); }
  const runner::ClientAddress& client() const { return client_; }

  const http::RequestHead& head() const { return head_; }
  const std::shared_ptr<const std::string>& body() const { return body_; }
  http::Response& answer() { return answer_; }
  void set_answer(http::Response answer) { answer_ = std::move(answer); }

 private:
  HttpCall() = default;
  http::RequestHead head_;
  std::shared_ptr<const std::string> body_;
  HttpTarget target_ = HttpTarget::kAsGiven;
  std::string path_;
  std::string query_;
  runner::ClientAddress client_;
  http::Response answer_;
};

struct HttpClientOptions {
  // Largest answer body accepted from an instance; larger ones fail with RESOURCE_EXHAUSTED.
  uint64_t max_response_bytes = 100ull << 20;
};

class HttpInstanceClient final : public InstanceClient {
 public:
  // `runner_load` is shared by the clients of all data-plane threads (DataPlane does that); a
  // client without one counts its own requests only.
  HttpInstanceClient(http::asio::any_io_executor executor, HttpClientOptions options = {},
                     std::shared_ptr<runner::RunnerLoad> runner_load = nullptr);

  // `call` must be an HttpCall.
  http::Awaitable<absl::Status> Send(const InstanceAddress& instance, InstanceCall& call,
                                     SteadyTime deadline) override;
  http::asio::any_io_executor Executor() const override { return executor_; }
  void Release(const InstanceAddress& instance) override;

  // Instances with pools open on this thread.
  size_t PoolCountForTest() const { return pools_.size() + runners_.size(); }

 private:
  // One runner instance as this thread sees it: a pool per worker socket, and the in-flight
  // counts all threads share.
  struct RunnerInstance {
    std::vector<std::unique_ptr<runner::RunnerPool>> workers;
    std::shared_ptr<runner::RunnerLoad::Workers> load;
    size_t next = 0;  // where the search for the least busy worker starts (round robin on ties)
  };
  // The transport and its address ("tcp:host:port", "unix:path", "runner:first socket"), and
  // the incarnation: a restarted instance gets new connections.
  using Key = std::pair<std::string, uint64_t>;
  static Key KeyOf(const InstanceAddress& instance);

  http::Awaitable<absl::Status> SendFrames(const InstanceAddress& instance, HttpCall& call,
                                           SteadyTime deadline);
  // The least busy worker; among equals one with an idle connection here, then round robin.
  // Counts the request in flight on it (the caller subtracts it when answered).
  static size_t PickWorker(RunnerInstance& runner);

  http::asio::any_io_executor executor_;
  HttpClientOptions options_;
  std::shared_ptr<runner::RunnerLoad> runner_load_;
  // Touched on executor_ only.
  std::map<Key, std::shared_ptr<http::UpstreamPool>> pools_;
  std::map<Key, std::shared_ptr<RunnerInstance>> runners_;
};

}  // namespace berth::gateway
