#include "gateway/http_instance_client.h"

#include "absl/strings/match.h"

namespace berth::gateway {

namespace asio = http::asio;
namespace bhttp = http::bhttp;

namespace {

bool Dropped(const std::string& name) {
  static const char* kHeaders[] = {"connection",
                                   "keep-alive",
                                   "proxy-authenticate",
                                   "proxy-authorization",
                                   "te",
                                   "trailer",
                                   "transfer-encoding",
                                   "upgrade",
                                   "content-length",
                                   "host",
                                   "authorization"};
  for (const char* h : kHeaders) {
    if (absl::EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

}  // namespace

HttpCall::HttpCall(const http::RequestHead& head, std::shared_ptr<const std::string> body,
                   HttpTarget target, std::string path, std::string query)
    : body_(std::move(body)), target_(target), path_(std::move(path)), query_(std::move(query)) {
  head_.method(head.method());
  head_.version(11);
  for (const auto& field : head) {
    if (Dropped(std::string(field.name_string()))) continue;
    head_.insert(field.name_string(), field.value());
  }
  if (!body_) body_ = std::make_shared<const std::string>();
}

void HttpCall::Bind(const DeploymentRouting& deployment) {
  std::string path = target_ == HttpTarget::kScoringRoute   ? deployment.routes.scoring_path
                     : target_ == HttpTarget::kSwaggerRoute ? deployment.routes.swagger_path
                                                            : path_;
  if (target_ == HttpTarget::kSwaggerRoute) {
    head_.method(bhttp::verb::get);
    body_ = std::make_shared<const std::string>();
  }
  head_.target(query_.empty() ? path : path + "?" + query_);
}

std::unique_ptr<InstanceCall> HttpCall::CloneForMirror() const {
  auto copy = std::unique_ptr<HttpCall>(new HttpCall());
  copy->head_ = head_;
  copy->body_ = body_;  // shared, not copied
  copy->target_ = target_;
  copy->path_ = path_;
  copy->query_ = query_;
  copy->client_ = client_;
  return copy;
}

HttpInstanceClient::HttpInstanceClient(asio::any_io_executor executor, HttpClientOptions options,
                                       std::shared_ptr<runner::RunnerLoad> runner_load)
    : executor_(std::move(executor)),
      options_(options),
      runner_load_(runner_load ? std::move(runner_load) : std::make_shared<runner::RunnerLoad>()) {}

HttpInstanceClient::Key HttpInstanceClient::KeyOf(const InstanceAddress& instance) {
  if (!instance.runner_sockets.empty()) {
    return {"runner:" + instance.runner_sockets.front(), instance.incarnation};
  }
  if (!instance.http_socket.empty()) return {"unix:" + instance.http_socket, instance.incarnation};
  return {"tcp:" + instance.host + ":" + std::to_string(instance.port), instance.incarnation};
}

http::Awaitable<absl::Status> HttpInstanceClient::Send(const InstanceAddress& instance,
                                                       InstanceCall& call, SteadyTime deadline) {
  auto& http_call = static_cast<HttpCall&>(call);
  if (!instance.runner_sockets.empty()) {
    co_return co_await SendFrames(instance, http_call, deadline);
  }
  std::shared_ptr<http::UpstreamPool>& pool = pools_[KeyOf(instance)];
  if (!pool) {
    http::Origin origin = instance.http_socket.empty()
                              ? http::Origin::Tcp(instance.host, instance.port)
                              : http::Origin::Unix(instance.http_socket);
    pool = std::make_shared<http::UpstreamPool>(
        executor_, std::move(origin),
        http::UpstreamPoolOptions{.max_response_body_bytes = options_.max_response_bytes});
  }
  std::shared_ptr<http::UpstreamPool> keep = pool;  // Release() may drop it meanwhile
  http::RequestHead head = http_call.head();
  head.set(bhttp::field::host, keep->origin().HostHeader());
  auto answer = co_await keep->Send(std::move(head), http_call.body(), deadline);
  if (!answer.ok()) co_return answer.status();
  http_call.set_answer(*std::move(answer));
  co_return absl::OkStatus();
}

size_t HttpInstanceClient::PickWorker(RunnerInstance& runner) {
  const size_t count = runner.workers.size();
  // The counts are shared with the other data-plane threads: the choice is claimed with a
  // compare-and-swap, so two threads choosing at once do not both take the same idle worker.
  constexpr int kTries = 4;
  for (int attempt = 0;; ++attempt) {
    size_t best = 0;
    int best_load = 0;
    bool best_idle = false;
    for (size_t k = 0; k < count; ++k) {
      size_t i = (runner.next + k) % count;
      int load = runner.load->in_flight[i].load(std::memory_order_relaxed);
      bool idle = runner.workers[i]->has_idle();
      if (k == 0 || load < best_load || (load == best_load && idle && !best_idle)) {
        best = i;
        best_load = load;
        best_idle = idle;
      }
    }
    std::atomic<int>& claimed = runner.load->in_flight[best];
    bool won = claimed.compare_exchange_strong(best_load, best_load + 1, std::memory_order_relaxed);
    if (!won && attempt + 1 < kTries) continue;  // another thread took it: choose again
    if (!won) claimed.fetch_add(1, std::memory_order_relaxed);  // busy everywhere: queue here
    runner.next = (best + 1) % count;
    return best;
  }
}

http::Awaitable<absl::Status> HttpInstanceClient::SendFrames(const InstanceAddress& instance,
                                                             HttpCall& call, SteadyTime deadline) {
  std::shared_ptr<RunnerInstance>& slot = runners_[KeyOf(instance)];
  if (!slot) {
    slot = std::make_shared<RunnerInstance>();
    for (const std::string& socket : instance.runner_sockets) {
      slot->workers.push_back(std::make_unique<runner::RunnerPool>(
          executor_, socket,
          runner::RunnerPoolOptions{.max_response_body_bytes = options_.max_response_bytes}));
    }
    slot->load = runner_load_->For(instance.runner_sockets.front(), instance.incarnation,
                                   instance.runner_sockets.size());
  }
  std::shared_ptr<RunnerInstance> runner = slot;  // Release() may drop it meanwhile
  const std::string& body = *call.body();
  auto prefix = runner::EncodeRequestPrefix(call.head(), body.size(), call.client());
  if (!prefix.ok()) {
    co_return absl::FailedPreconditionError("cannot frame the request for the runner: " +
                                            std::string(prefix.status().message()));
  }
  const size_t worker = PickWorker(*runner);  // counted in flight
  std::atomic<int>& in_flight = runner->load->in_flight[worker];
  auto answer = co_await runner->workers[worker]->Send(*prefix, body, deadline);
  in_flight.fetch_sub(1, std::memory_order_relaxed);
  if (!answer.ok()) co_return answer.status();
  const int status = answer->result_int();
  if (status < 200) {
    // The frame's range allows it, but a 1xx is never a final answer in HTTP.
    co_return absl::AbortedError("protocol error from the runner worker: status " +
                                 std::to_string(status) + " is not a final response");
  }
  // HTTP gives these no body, whatever the worker sent.
  if (call.head().method() == bhttp::verb::head || status == 204 || status == 304) {
    answer->body().clear();
  }
  call.set_answer(*std::move(answer));
  co_return absl::OkStatus();
}

void HttpInstanceClient::Release(const InstanceAddress& instance) {
  asio::post(executor_, [this, key = KeyOf(instance)] {
    if (auto it = pools_.find(key); it != pools_.end()) {
      it->second->CloseIdle();
      pools_.erase(it);
    }
    if (auto it = runners_.find(key); it != runners_.end()) {
      for (auto& worker : it->second->workers) worker->CloseIdle();
      runners_.erase(it);
    }
  });
}

}  // namespace berth::gateway
