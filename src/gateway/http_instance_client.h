#pragma once
// HTTP/1.1 side of the InstanceClient seam: HttpCall carries a REST request to an instance and
// its answer back; HttpInstanceClient sends it over keep-alive pools, one pool per instance.
//
// Threading: one HttpInstanceClient per data-plane thread; Send() runs on that thread (its
// pools are not shared), Release() may be called from any thread and is carried out there.

#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "gateway/instance_client.h"
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
  http::Response answer_;
};

struct HttpClientOptions {
  // Largest answer body accepted from an instance; larger ones fail with RESOURCE_EXHAUSTED.
  uint64_t max_response_bytes = 100ull << 20;
};

class HttpInstanceClient final : public InstanceClient {
 public:
  HttpInstanceClient(http::asio::any_io_executor executor, HttpClientOptions options = {});

  // `call` must be an HttpCall.
  http::Awaitable<absl::Status> Send(const InstanceAddress& instance, InstanceCall& call,
                                     SteadyTime deadline) override;
  http::asio::any_io_executor Executor() const override { return executor_; }
  void Release(const InstanceAddress& instance) override;

  size_t PoolCountForTest() const { return pools_.size(); }

 private:
  using Key = std::tuple<std::string, int, uint64_t>;  // host, port, incarnation
  http::asio::any_io_executor executor_;
  HttpClientOptions options_;
  std::map<Key, std::shared_ptr<http::UpstreamPool>> pools_;  // touched on executor_ only
};

}  // namespace berth::gateway
