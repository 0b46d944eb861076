#include <future>
#include <thread>

#include "controlplane/supervisor/fake_prober.h"
#include "controlplane/supervisor/prober.h"
#include "gateway/fake_runner_worker_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"
#include "http/server.h"

namespace berth::controlplane {
namespace {

using gateway::runner::FakeRunnerWorker;
using gateway::runner::FrameRequest;
using http::testing::TempSocketDir;
using ::testing::HasSubstr;
namespace asio = http::asio;
namespace bhttp = http::bhttp;

// Probes `target` with an HttpProber on a fresh io_context and returns the result.
ProbeResult ProbeOnce(const ProbeTarget& target, const std::string& path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  asio::io_context io;
  HttpProber prober(io.get_executor());
  std::promise<ProbeResult> result;
  prober.Probe(target, path, timeout, [&](ProbeResult r) { result.set_value(std::move(r)); });
  io.run();
  return result.get_future().get();
}

// An instance's HTTP server: `/ready` answers `ready_status`, anything else 404.
class HttpInstance {
 public:
  explicit HttpInstance(http::ServerOptions options)
      : server_(io_, std::move(options),
                [this](http::Request& req,
                       const http::RequestContext&) -> http::Awaitable<http::Response> {
                  bhttp::status status =
                      req.target() == "/ready" ? ready_status.load() : bhttp::status::not_found;
                  co_return http::MakeResponse(req, status, "", "text/plain");
                }) {
    port_ = *server_.Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~HttpInstance() {
    asio::post(io_, [this] {
      server_.Stop();
      work_.reset();
    });
    thread_.join();
  }
  int port() const { return port_; }
  std::atomic<bhttp::status> ready_status{bhttp::status::ok};

 private:
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  http::HttpServer server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpProberTest, ProbesOverTcp) {
  HttpInstance instance({.host = "127.0.0.1", .port = 0});
  ProbeResult healthy = ProbeOnce({.port = instance.port()}, "/ready");
  EXPECT_TRUE(healthy.healthy);
  EXPECT_EQ(healthy.detail, "HTTP 200");
  instance.ready_status = bhttp::status::service_unavailable;
  ProbeResult unhealthy = ProbeOnce({.port = instance.port()}, "/ready");
  EXPECT_FALSE(unhealthy.healthy);
  EXPECT_EQ(unhealthy.detail, "HTTP 503");
}

TEST(HttpProberTest, ProbesHttpOverAUnixSocket) {
  TempSocketDir dir;
  http::ServerOptions options;
  options.unix_socket = dir.File("http.sock");
  HttpInstance instance(options);
  ProbeTarget target{.http_socket = options.unix_socket};
  EXPECT_TRUE(ProbeOnce(target, "/ready").healthy);
  ProbeResult missing_path = ProbeOnce(target, "/nope");
  EXPECT_FALSE(missing_path.healthy);
  EXPECT_EQ(missing_path.detail, "HTTP 404");
  ProbeResult nobody = ProbeOnce({.http_socket = dir.File("gone.sock")}, "/ready");
  EXPECT_FALSE(nobody.healthy);
  EXPECT_THAT(nobody.detail, HasSubstr("cannot connect to unix:" + dir.File("gone.sock")));
}

TEST(HttpProberTest, ProbesTheRunnerControlSocketWithAFrame) {
  TempSocketDir dir;
  std::atomic<int> status{503};
  FakeRunnerWorker control(dir.File("control.sock"), [&](const FrameRequest& req) {
    int answer = req.method == "GET" && req.target == "/" ? status.load() : 404;
    return FakeRunnerWorker::Answer(answer, {}, answer == 200 ? "Healthy" : "");
  });
  // The port and http_socket are ignored when the runner's control socket is given.
  ProbeTarget target{.port = 1,
                     .http_socket = dir.File("x.sock"),
                     .runner_control_socket = dir.File("control.sock")};
  ProbeResult starting = ProbeOnce(target, "/");
  EXPECT_FALSE(starting.healthy);
  EXPECT_EQ(starting.detail, "HTTP 503");
  status = 200;
  ProbeResult ready = ProbeOnce(target, "/");
  EXPECT_TRUE(ready.healthy);
  EXPECT_EQ(ready.detail, "HTTP 200");
  // Only 200 is healthy on the control socket (a 3xx would pass an HTTP probe).
  status = 302;
  EXPECT_FALSE(ProbeOnce(target, "/").healthy);
  EXPECT_EQ(control.requests(), 3);

  ProbeResult nobody = ProbeOnce({.runner_control_socket = dir.File("gone.sock")}, "/");
  EXPECT_FALSE(nobody.healthy);
  EXPECT_THAT(nobody.detail, HasSubstr("cannot connect"));
}

TEST(HttpProberTest, AProbeThatGetsNoAnswerTimesOut) {
  TempSocketDir dir;
  FakeRunnerWorker silent(dir.File("control.sock"), [](const FrameRequest&) {
    return FakeRunnerWorker::Reply{.hold = true};
  });
  ProbeResult result = ProbeOnce({.runner_control_socket = dir.File("control.sock")}, "/",
                                 std::chrono::milliseconds(200));
  EXPECT_FALSE(result.healthy);
  EXPECT_THAT(result.detail, HasSubstr("did not answer in time"));
}

TEST(FakeProberTest, AnswersBySocketOrByPort) {
  FakeProber prober;
  prober.SetHealthy(8000, false);
  prober.SetHealthy("/run/x/control.sock", false);
  auto probe = [&](const ProbeTarget& target) {
    bool healthy = true;
    prober.Probe(target, "/", std::chrono::seconds(1), [&](ProbeResult r) { healthy = r.healthy; });
    return healthy;
  };
  EXPECT_FALSE(probe({.port = 8000}));
  EXPECT_TRUE(probe({.port = 8001}));
  EXPECT_FALSE(probe({.runner_control_socket = "/run/x/control.sock"}));
  EXPECT_TRUE(probe({.http_socket = "/run/y/http.sock"}));
  EXPECT_EQ(prober.last_target().http_socket, "/run/y/http.sock");
  EXPECT_EQ(prober.probes(), 4);
}

}  // namespace
}  // namespace berth::controlplane
