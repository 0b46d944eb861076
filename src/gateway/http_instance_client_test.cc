#include "gateway/http_instance_client.h"

#include <future>
#include <thread>

#include "gateway/fake_runner_worker_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"
#include "http/server.h"

namespace berth::gateway {
namespace {

using http::testing::TempSocketDir;
using runner::FakeRunnerWorker;
using runner::FrameRequest;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
namespace asio = http::asio;
namespace bhttp = http::bhttp;

// A client's request to a deployment's scoring route, as DataPlane makes it.
std::unique_ptr<HttpCall> ScoreCall(std::string body, bhttp::verb method = bhttp::verb::post) {
  http::RequestHead head;
  head.method(method);
  head.target("/endpoints/ep/score");
  head.insert("Content-Type", "application/json");
  head.insert("Authorization", "Bearer key");
  head.insert("Connection", "keep-alive");
  head.insert("x-ms-client-request-id", "client-1");
  auto call = std::make_unique<HttpCall>(head, std::make_shared<const std::string>(body),
                                         HttpTarget::kScoringRoute, "", "verbose=1");
  DeploymentRouting deployment;
  deployment.routes.scoring_path = "/score";
  call->Bind(deployment);
  call->set_client({"10.1.2.3", 4567});
  return call;
}

InstanceAddress Runner(const TempSocketDir& dir, int workers, uint64_t incarnation = 1) {
  InstanceAddress address;
  address.id = 1;
  address.incarnation = incarnation;
  for (int i = 0; i < workers; ++i) {
    address.runner_sockets.push_back(dir.File("worker-" + std::to_string(i) + ".sock"));
  }
  return address;
}

SteadyTime Soon() { return std::chrono::steady_clock::now() + std::chrono::seconds(5); }

class HttpInstanceClientTest : public ::testing::Test {
 protected:
  // Sends `call` to `instance` through `client` on io_, running io_ until it is answered.
  absl::Status Send(HttpInstanceClient& client, const InstanceAddress& instance, HttpCall& call) {
    auto result = asio::co_spawn(io_, client.Send(instance, call, Soon()), asio::use_future);
    io_.restart();
    io_.run();
    return result.get();
  }

  TempSocketDir dir_;
  asio::io_context io_;
};

TEST_F(HttpInstanceClientTest, RunnerInstancesGetFramesWithTheForwardedRequest) {
  FakeRunnerWorker worker(dir_.File("worker-0.sock"), [](const FrameRequest& req) {
    return FakeRunnerWorker::Answer(
        200, {{"Content-Type", "application/json"}, {"x-ms-request-id", "r1"}}, req.body);
  });
  HttpInstanceClient client(io_.get_executor());
  auto call = ScoreCall(R"({"data":1})");
  absl::Status sent = Send(client, Runner(dir_, 1), *call);
  ASSERT_TRUE(sent.ok()) << sent;
  EXPECT_EQ(call->answer().result_int(), 200);
  EXPECT_EQ(call->answer().body(), R"({"data":1})");
  EXPECT_EQ(call->answer()["x-ms-request-id"], "r1");

  std::vector<FrameRequest> seen = worker.received();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/score?verbose=1");
  EXPECT_EQ(seen[0].client.address, "10.1.2.3");
  EXPECT_EQ(seen[0].client.port, 4567);
  // The credential and the hop-by-hop headers stay with berthd; nothing is added.
  EXPECT_THAT(seen[0].headers, UnorderedElementsAre(Pair("Content-Type", "application/json"),
                                                    Pair("x-ms-client-request-id", "client-1")));
}

TEST_F(HttpInstanceClientTest, MirroredCopiesAndHeadRequestsGoThroughFrames) {
  FakeRunnerWorker worker(dir_.File("worker-0.sock"), [](const FrameRequest& req) {
    return FakeRunnerWorker::Answer(200, {}, "echo:" + req.body);
  });
  HttpInstanceClient client(io_.get_executor());
  auto call = ScoreCall("payload");
  std::unique_ptr<InstanceCall> mirror = call->CloneForMirror();
  ASSERT_TRUE(Send(client, Runner(dir_, 1), static_cast<HttpCall&>(*mirror)).ok());
  EXPECT_EQ(static_cast<HttpCall&>(*mirror).answer().body(), "echo:payload");
  EXPECT_EQ(worker.received().at(0).client.address, "10.1.2.3");

  auto head = ScoreCall("", bhttp::verb::head);
  ASSERT_TRUE(Send(client, Runner(dir_, 1), *head).ok());
  EXPECT_EQ(head->answer().body(), "") << "HEAD answers carry no body";
  EXPECT_EQ(worker.received().at(1).method, "HEAD");
}

TEST_F(HttpInstanceClientTest, ProtocolErrorsAbort) {
  FakeRunnerWorker worker(dir_.File("worker-0.sock"), [](const FrameRequest&) {
    return FakeRunnerWorker::Reply{std::string("\0\0\0\3\1\0\x01", 7)};  // status 1
  });
  HttpInstanceClient client(io_.get_executor());
  auto call = ScoreCall("x");
  absl::Status sent = Send(client, Runner(dir_, 1), *call);
  EXPECT_EQ(sent.code(), absl::StatusCode::kAborted) << sent;
  EXPECT_THAT(sent.message(), HasSubstr("protocol error"));

  // In the frame's range, but not a final HTTP answer.
  FakeRunnerWorker interim(dir_.File("interim.sock"), [](const FrameRequest&) {
    return FakeRunnerWorker::Answer(101, {}, "");
  });
  InstanceAddress instance = Runner(dir_, 0);
  instance.runner_sockets = {dir_.File("interim.sock")};
  auto second = ScoreCall("x");
  sent = Send(client, instance, *second);
  EXPECT_EQ(sent.code(), absl::StatusCode::kAborted) << sent;
  EXPECT_THAT(sent.message(), HasSubstr("not a final response"));
}

TEST_F(HttpInstanceClientTest, NoContentAnswersCarryNoBody) {
  FakeRunnerWorker worker(dir_.File("worker-0.sock"), [](const FrameRequest&) {
    return FakeRunnerWorker::Answer(204, {}, "ignored");
  });
  HttpInstanceClient client(io_.get_executor());
  auto call = ScoreCall("x");
  ASSERT_TRUE(Send(client, Runner(dir_, 1), *call).ok());
  EXPECT_EQ(call->answer().result_int(), 204);
  EXPECT_EQ(call->answer().body(), "");
}

// Two data-plane threads' clients share the workers' in-flight counts: while worker 0 holds a
// request from one client, the other client's request goes to worker 1, not behind it.
TEST_F(HttpInstanceClientTest, RequestsGoToTheLeastBusyWorkerAcrossThreads) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> held{0};
  auto handler = [&](const FrameRequest& req) {
    if (req.body == "hold") {
      ++held;
      released.wait();
    }
    return FakeRunnerWorker::Answer(200, {}, req.body);
  };
  FakeRunnerWorker worker0(dir_.File("worker-0.sock"), handler);
  FakeRunnerWorker worker1(dir_.File("worker-1.sock"), handler);
  auto load = std::make_shared<runner::RunnerLoad>();
  asio::io_context other_io;
  HttpInstanceClient first(io_.get_executor(), {}, load);
  HttpInstanceClient second(other_io.get_executor(), {}, load);
  InstanceAddress instance = Runner(dir_, 2);

  auto slow = ScoreCall("hold");
  auto slow_sent = asio::co_spawn(io_, first.Send(instance, *slow, Soon()), asio::use_future);
  std::thread first_thread([&] { io_.run(); });
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (held == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  ASSERT_EQ(held, 1);
  ASSERT_EQ(worker0.requests() + worker1.requests(), 1);
  const bool slow_on_worker0 = worker0.requests() == 1;

  auto quick = ScoreCall("quick");
  auto quick_sent =
      asio::co_spawn(other_io, second.Send(instance, *quick, Soon()), asio::use_future);
  other_io.run();
  ASSERT_TRUE(quick_sent.get().ok());
  EXPECT_EQ(quick->answer().body(), "quick");
  release.set_value();
  first_thread.join();
  ASSERT_TRUE(slow_sent.get().ok());
  EXPECT_EQ(worker0.requests(), 1);
  EXPECT_EQ(worker1.requests(), 1);
  std::string quick_went_to = worker1.received().at(0).body;
  if (!slow_on_worker0) quick_went_to = worker0.received().at(0).body;
  EXPECT_EQ(quick_went_to, "quick");
}

TEST_F(HttpInstanceClientTest, AmongIdleWorkersOneWithAPooledConnectionIsPreferred) {
  auto handler = [](const FrameRequest&) { return FakeRunnerWorker::Answer(200, {}, ""); };
  FakeRunnerWorker worker0(dir_.File("worker-0.sock"), handler);
  FakeRunnerWorker worker1(dir_.File("worker-1.sock"), handler);
  FakeRunnerWorker worker2(dir_.File("worker-2.sock"), handler);
  HttpInstanceClient client(io_.get_executor());
  for (int i = 0; i < 6; ++i) {
    auto call = ScoreCall("x");
    ASSERT_TRUE(Send(client, Runner(dir_, 3), *call).ok());
  }
  // One after another, every worker idle each time: the one connection opened first serves
  // them all.
  EXPECT_EQ(worker0.requests() + worker1.requests() + worker2.requests(), 6);
  EXPECT_EQ(worker0.connections() + worker1.connections() + worker2.connections(), 1);
}

TEST_F(HttpInstanceClientTest, HttpOverAUnixSocketAndTcp) {
  asio::io_context server_io(1);
  auto handler = [](http::Request& req,
                    const http::RequestContext&) -> http::Awaitable<http::Response> {
    std::string host(req[bhttp::field::host]);
    bool credential = req.find(bhttp::field::authorization) != req.end();
    co_return http::MakeResponse(
        req, bhttp::status::ok,
        std::string(req.target()) + " host=" + host + (credential ? " credential" : ""),
        "text/plain");
  };
  http::HttpServer on_socket(server_io, {.unix_socket = dir_.File("http.sock")}, handler);
  http::HttpServer on_port(server_io, {.host = "127.0.0.1", .port = 0}, handler);
  ASSERT_TRUE(on_socket.Start().ok());
  auto port = on_port.Start();
  ASSERT_TRUE(port.ok());
  auto work = asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });

  HttpInstanceClient client(io_.get_executor());
  InstanceAddress unix_instance;
  unix_instance.http_socket = dir_.File("http.sock");
  auto via_socket = ScoreCall("x");
  ASSERT_TRUE(Send(client, unix_instance, *via_socket).ok());
  EXPECT_EQ(via_socket->answer().body(), "/score?verbose=1 host=localhost");

  InstanceAddress tcp_instance;
  tcp_instance.port = *port;
  auto via_port = ScoreCall("x");
  ASSERT_TRUE(Send(client, tcp_instance, *via_port).ok());
  EXPECT_EQ(via_port->answer().body(), "/score?verbose=1 host=127.0.0.1:" + std::to_string(*port));
  EXPECT_EQ(client.PoolCountForTest(), 2u);

  client.Release(unix_instance);
  client.Release(tcp_instance);
  io_.restart();
  io_.run();
  EXPECT_EQ(client.PoolCountForTest(), 0u);
  asio::post(server_io, [&] {
    on_socket.Stop();
    on_port.Stop();
    work.reset();
  });
  server_thread.join();
}

TEST_F(HttpInstanceClientTest, ReleaseClosesTheRunnerConnections) {
  FakeRunnerWorker worker(dir_.File("worker-0.sock"), [](const FrameRequest&) {
    return FakeRunnerWorker::Answer(200, {}, "");
  });
  HttpInstanceClient client(io_.get_executor());
  auto call = ScoreCall("x");
  ASSERT_TRUE(Send(client, Runner(dir_, 1), *call).ok());
  EXPECT_EQ(client.PoolCountForTest(), 1u);
  client.Release(Runner(dir_, 1, /*incarnation=*/2));  // another incarnation: not this one
  io_.restart();
  io_.run();
  EXPECT_EQ(client.PoolCountForTest(), 1u);
  client.Release(Runner(dir_, 1));
  io_.restart();
  io_.run();
  EXPECT_EQ(client.PoolCountForTest(), 0u);
}

}  // namespace
}  // namespace berth::gateway
