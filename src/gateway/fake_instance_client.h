#pragma once
// FakeInstanceClient and FakeCall: the InstanceClient seam for router tests. Each instance
// (by port) answers as the test says: at once with a status, with a transport error, or held
// until Release()d by the test. Send() records what was sent where. Runs on one io_context
// (the test's); not thread-safe.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/instance_client.h"

namespace berth::gateway {

class FakeCall final : public InstanceCall {
 public:
  explicit FakeCall(std::string payload) : payload(std::move(payload)) {}
  void Bind(const DeploymentRouting& deployment) override { bound_to = deployment.name; }
  std::unique_ptr<InstanceCall> CloneForMirror() const override {
    auto copy = std::make_unique<FakeCall>(payload);
    copy->mirrored = true;
    return copy;
  }
  std::string payload;
  std::string bound_to;     // the deployment Bind() named
  bool mirrored = false;    // made by CloneForMirror
  std::string answered_by;  // "<deployment>#<instance id>" once answered
};

class FakeInstanceClient final : public InstanceClient {
 public:
  explicit FakeInstanceClient(http::asio::any_io_executor executor)
      : executor_(std::move(executor)) {}

  struct Sent {
    InstanceAddress instance;
    std::string bound_to;
    bool mirrored = false;
    SteadyTime deadline;
  };

  // How the instance on `port` behaves: its Send result (OK: answered), or held until
  // ReleaseHeld().
  void Fail(int port, absl::Status status) { results_[port] = std::move(status); }
  void Hold(int port) { held_ports_[port] = true; }
  void ReleaseHeld() {
    for (auto& [port, held] : held_ports_) held = false;
    auto timers = std::move(held_timers_);
    for (auto& t : timers) t->cancel();
  }

  http::Awaitable<absl::Status> Send(const InstanceAddress& instance, InstanceCall& call,
                                     SteadyTime deadline) override {
    auto& fake = static_cast<FakeCall&>(call);
    sent.push_back({instance, fake.bound_to, fake.mirrored, deadline});
    if (held_ports_[instance.port]) {
      auto timer = std::make_shared<http::asio::steady_timer>(executor_);
      timer->expires_after(std::chrono::hours(1));
      held_timers_.push_back(timer);
      boost::system::error_code ec;
      co_await timer->async_wait(http::Await(ec));
    }
    absl::Status result = absl::OkStatus();
    if (auto it = results_.find(instance.port); it != results_.end()) result = it->second;
    if (result.ok()) fake.answered_by = fake.bound_to + "#" + std::to_string(instance.id);
    co_return result;
  }
  http::asio::any_io_executor Executor() const override { return executor_; }
  void Release(const InstanceAddress& instance) override { released.push_back(instance); }

  std::vector<Sent> sent;
  std::vector<InstanceAddress> released;

 private:
  http::asio::any_io_executor executor_;
  std::map<int, absl::Status> results_;
  std::map<int, bool> held_ports_;
  std::vector<std::shared_ptr<http::asio::steady_timer>> held_timers_;
};

}  // namespace berth::gateway
