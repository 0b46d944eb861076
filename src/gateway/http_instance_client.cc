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
  return copy;
}

HttpInstanceClient::HttpInstanceClient(asio::any_io_executor executor, HttpClientOptions options)
    : executor_(std::move(executor)), options_(options) {}

http::Awaitable<absl::Status> HttpInstanceClient::Send(const InstanceAddress& instance,
                                                       InstanceCall& call, SteadyTime deadline) {
  auto& http_call = static_cast<HttpCall&>(call);
  std::shared_ptr<http::UpstreamPool>& pool =
      pools_[{instance.host, instance.port, instance.incarnation}];
  if (!pool) {
    pool = std::make_shared<http::UpstreamPool>(
        executor_, instance.host, instance.port,
        http::UpstreamPoolOptions{.max_response_body_bytes = options_.max_response_bytes});
  }
  std::shared_ptr<http::UpstreamPool> keep = pool;  // Release() may drop it meanwhile
  http::RequestHead head = http_call.head();
  head.set(bhttp::field::host, instance.host + ":" + std::to_string(instance.port));
  auto answer = co_await keep->Send(std::move(head), http_call.body(), deadline);
  if (!answer.ok()) co_return answer.status();
  http_call.set_answer(*std::move(answer));
  co_return absl::OkStatus();
}

void HttpInstanceClient::Release(const InstanceAddress& instance) {
  asio::post(executor_, [this, key = Key{instance.host, instance.port, instance.incarnation}] {
    auto it = pools_.find(key);
    if (it == pools_.end()) return;
    it->second->CloseIdle();
    pools_.erase(it);
  });
}

}  // namespace berth::gateway
