// REST and gRPC give the same answers for the same routing cases: one table, both adapters over
// one Router, real sockets on loopback.

#include <grpcpp/grpcpp.h>

#include <thread>

#include "gateway/data_plane.h"
#include "gateway/grpc/fake_worker_for_test.h"
#include "gateway/grpc/grpc_gateway.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/server.h"
#include "oip/grpc_status.h"

namespace berth::gateway {
namespace {

namespace asio = http::asio;
namespace bhttp = http::bhttp;

// An instance's HTTP port: answers OIP infer with its name; `delay` holds each answer.
class FakeHttpOrigin {
 public:
  FakeHttpOrigin(std::string name, std::chrono::milliseconds delay = {})
      : name_(std::move(name)),
        delay_(delay),
        server_(io_, {.host = "127.0.0.1", .port = 0},
                [this](http::Request& req,
                       const http::RequestContext&) -> http::Awaitable<http::Response> {
                  if (delay_.count() > 0) {
                    asio::steady_timer timer(co_await asio::this_coro::executor, delay_);
                    boost::system::error_code ec;
                    co_await timer.async_wait(http::Await(ec));
                  }
                  co_return http::MakeResponse(req, bhttp::status::ok, name_, "text/plain");
                }) {
    port_ = *server_.Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeHttpOrigin() {
    asio::post(io_, [this] { server_.Stop(); });
    io_.stop();
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string name_;
  std::chrono::milliseconds delay_;
  asio::io_context io_;
  http::HttpServer server_;
  int port_ = 0;
  std::thread thread_;
};

struct ParityCase {
  std::string name;
  std::optional<std::string> key = "k1";
  std::string endpoint = "ep";
  std::optional<std::string> deployment;
  int http_status;
  grpc::StatusCode grpc_code;
  std::string served_by;  // the deployment that answered; "" when none did
};

class ProtocolParityTest : public ::testing::TestWithParam<ParityCase> {
 protected:
  void SetUp() override {
    data_plane_.AddThread(io_);
    auto port = server_.Start();
    ASSERT_TRUE(port.ok());
    rest_port_ = *port;
    auto grpc_port = grpc_.Start("127.0.0.1", 0);
    ASSERT_TRUE(grpc_port.ok());
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(*grpc_port), grpc::InsecureChannelCredentials()));
    thread_ = std::thread([this] { io_.run(); });
    slow_worker_.Block();

    auto ep = std::make_shared<EndpointRouting>();
    ep->name = "ep";
    ep->primary_key = "k1";
    ep->secondary_key = "k2";
    ep->traffic = {{"blue", 100}};
    ep->deployments["blue"] = Deployment("blue", blue_http_.port(), blue_worker_.port());
    ep->deployments["green"] = Deployment("green", green_http_.port(), green_worker_.port());
    ep->deployments["slow"] = Deployment("slow", slow_http_.port(), slow_worker_.port());
    ep->deployments["empty"] = Deployment("empty", 0, 0);
    ep->deployments["busy"] = Deployment("busy", blue_http_.port(), blue_worker_.port());
    auto quiet = std::make_shared<EndpointRouting>(*ep);
    quiet->name = "quiet";
    quiet->traffic.clear();
    // Closed to public network access: both listeners here are public.
    auto closed = std::make_shared<EndpointRouting>(*ep);
    closed->name = "closed";
    closed->public_network_access = false;
    auto snapshot = std::make_shared<RoutingSnapshot>();
    snapshot->endpoints["ep"] = ep;
    snapshot->endpoints["quiet"] = quiet;
    snapshot->endpoints["closed"] = closed;
    router_.Publish(snapshot);
  }

  void TearDown() override {
    slow_worker_.Unblock();
    grpc_.Shutdown();
    asio::post(io_, [this] { server_.Stop(); });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  static std::shared_ptr<DeploymentRouting> Deployment(const std::string& name, int port,
                                                       int grpc_port) {
    auto d = std::make_shared<DeploymentRouting>();
    d->name = name;
    d->speaks_oip = true;
    d->request_settings.max_concurrent_requests_per_instance = name == "busy" ? 0 : 10;
    d->request_settings.max_queue_wait_ms = 1000;
    d->request_settings.request_timeout_ms = name == "slow" ? 200 : 20000;
    if (port != 0) d->ready.push_back({1, 1, "127.0.0.1", port, grpc_port});
    return d;
  }

  // POST /endpoints/<e>/v2/models/m/infer; returns the status and the deployment header.
  std::pair<int, std::string> Rest(const ParityCase& c) {
    asio::io_context io;
    http::beast::tcp_stream stream(io);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), rest_port_));
    http::Request req{bhttp::verb::post, "/endpoints/" + c.endpoint + "/v2/models/m/infer", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::content_type, "application/json");
    if (c.key) req.set(bhttp::field::authorization, "Bearer " + *c.key);
    if (c.deployment) req.set("azureml-model-deployment", *c.deployment);
    req.body() = R"({"inputs":[]})";
    req.prepare_payload();
    bhttp::write(stream, req);
    http::beast::flat_buffer buffer;
    http::Response res;
    bhttp::read(stream, buffer, res);
    std::string served;
    if (res.result_int() == 200) served = res.body();
    return {res.result_int(), served};
  }

  std::pair<grpc::StatusCode, std::string> Grpc(const ParityCase& c) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("berth-endpoint", c.endpoint);
    if (c.key) ctx.AddMetadata("authorization", "Bearer " + *c.key);
    if (c.deployment) ctx.AddMetadata("azureml-model-deployment", *c.deployment);
    inference::ModelInferRequest req;
    req.set_model_name("m");
    inference::ModelInferResponse res;
    grpc::Status s = stub_->ModelInfer(&ctx, req, &res);
    return {s.error_code(), s.ok() ? res.model_name() : ""};
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::thread thread_;
  DefaultRandom random_{7};
  Metrics metrics_;
  Router router_{SystemClock::Get(), random_, metrics_};
  DataPlane data_plane_{router_, SystemClock::Get()};
  http::HttpServer server_{
      io_,
      {.host = "127.0.0.1", .port = 0},
      [this](http::Request& req, const http::RequestContext&) { return data_plane_.Handle(req); }};
  GrpcGateway grpc_{router_, {&io_}, SystemClock::Get()};
  int rest_port_ = 0;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  FakeHttpOrigin blue_http_{"blue"};
  FakeHttpOrigin green_http_{"green"};
  FakeHttpOrigin slow_http_{"slow", std::chrono::milliseconds(3000)};
  FakeWorker blue_worker_{"blue"};
  FakeWorker green_worker_{"green"};
  FakeWorker slow_worker_{"slow"};
};

TEST_P(ProtocolParityTest, SameAnswerOverRestAndGrpc) {
  const ParityCase& c = GetParam();
  auto [http_status, rest_served] = Rest(c);
  auto [grpc_code, grpc_served] = Grpc(c);
  EXPECT_EQ(http_status, c.http_status) << c.name;
  EXPECT_EQ(grpc_code, c.grpc_code) << c.name;
  EXPECT_EQ(oip::HttpEquivalent(grpc_code), http_status) << c.name;
  EXPECT_EQ(rest_served, c.served_by) << c.name;
  EXPECT_EQ(grpc_served, c.served_by) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Routing, ProtocolParityTest,
    ::testing::Values(ParityCase{.name = "split",
                                 .http_status = 200,
                                 .grpc_code = grpc::StatusCode::OK,
                                 .served_by = "blue"},
                      ParityCase{.name = "secondary_key",
                                 .key = "k2",
                                 .http_status = 200,
                                 .grpc_code = grpc::StatusCode::OK,
                                 .served_by = "blue"},
                      ParityCase{.name = "header_pins",
                                 .deployment = "GREEN",
                                 .http_status = 200,
                                 .grpc_code = grpc::StatusCode::OK,
                                 .served_by = "green"},
                      ParityCase{.name = "missing_key",
                                 .key = std::nullopt,
                                 .http_status = 401,
                                 .grpc_code = grpc::StatusCode::UNAUTHENTICATED},
                      ParityCase{.name = "wrong_key",
                                 .key = "nope",
                                 .http_status = 401,
                                 .grpc_code = grpc::StatusCode::UNAUTHENTICATED},
                      ParityCase{.name = "unknown_endpoint",
                                 .endpoint = "ghost",
                                 .http_status = 401,
                                 .grpc_code = grpc::StatusCode::UNAUTHENTICATED},
                      ParityCase{.name = "public_access_disabled",
                                 .endpoint = "closed",
                                 .http_status = 403,
                                 .grpc_code = grpc::StatusCode::PERMISSION_DENIED},
                      ParityCase{.name = "public_access_disabled_without_key",
                                 .key = std::nullopt,
                                 .endpoint = "closed",
                                 .http_status = 401,
                                 .grpc_code = grpc::StatusCode::UNAUTHENTICATED},
                      ParityCase{.name = "unknown_deployment",
                                 .deployment = "red",
                                 .http_status = 404,
                                 .grpc_code = grpc::StatusCode::NOT_FOUND},
                      ParityCase{.name = "no_traffic",
                                 .endpoint = "quiet",
                                 .http_status = 404,
                                 .grpc_code = grpc::StatusCode::NOT_FOUND},
                      ParityCase{.name = "no_ready_instance",
                                 .deployment = "empty",
                                 .http_status = 503,
                                 .grpc_code = grpc::StatusCode::UNAVAILABLE},
                      ParityCase{.name = "admission",
                                 .deployment = "busy",
                                 .http_status = 429,
                                 .grpc_code = grpc::StatusCode::RESOURCE_EXHAUSTED},
                      ParityCase{.name = "timeout",
                                 .deployment = "slow",
                                 .http_status = 408,
                                 .grpc_code = grpc::StatusCode::DEADLINE_EXCEEDED}),
    [](const ::testing::TestParamInfo<ParityCase>& info) { return info.param.name; });

}  // namespace
}  // namespace berth::gateway
