#include "gateway/grpc/grpc_gateway.h"

#include <grpcpp/grpcpp.h>

#include <future>
#include <thread>

#include "gateway/grpc/fake_worker_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/raw_socket_for_test.h"
#include "oip/grpc_service.grpc.pb.h"

namespace berth::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace asio = http::asio;

class GrpcGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    io_thread_ = std::thread([this] { io_.run(); });
    auto port = gateway_.Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    blue_.Unblock();
    gateway_.Shutdown();
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  std::shared_ptr<DeploymentRouting> Deployment(const std::string& name, int grpc_port,
                                                int max_concurrent = 10) {
    auto d = std::make_shared<DeploymentRouting>();
    d->name = name;
    d->speaks_oip = true;
    d->request_settings.max_concurrent_requests_per_instance = max_concurrent;
    d->request_settings.max_queue_wait_ms = 60000;
    d->request_settings.request_timeout_ms = 30000;
    d->ready.push_back({1, 1, "127.0.0.1", 0, grpc_port});
    return d;
  }

  // Endpoint "ep" (key auth, key "k1") with deployments blue and green.
  void Publish(std::map<std::string, int> traffic, std::map<std::string, int> mirror = {},
               std::shared_ptr<DeploymentRouting> blue = nullptr) {
    auto ep = std::make_shared<EndpointRouting>();
    ep->name = "ep";
    ep->auth_mode = core::AuthMode::kKey;
    ep->primary_key = "k1";
    ep->secondary_key = "k2";
    ep->traffic = std::move(traffic);
    ep->mirror_traffic = std::move(mirror);
    ep->deployments["blue"] = blue ? blue : Deployment("blue", blue_.port());
    ep->deployments["green"] = Deployment("green", green_.port());
    auto snapshot = std::make_shared<RoutingSnapshot>();
    snapshot->endpoints["ep"] = ep;
    router_.Publish(snapshot);
  }

  std::shared_ptr<AdmissionGate> BlueGate() { return router_.GateForTest("ep", "blue"); }

  static void Authorize(grpc::ClientContext* ctx, const std::string& key = "k1") {
    ctx->AddMetadata("berth-endpoint", "ep");
    ctx->AddMetadata("authorization", "Bearer " + key);
  }

  static inference::ModelInferRequest InferRequest() {
    inference::ModelInferRequest req;
    req.set_model_name("m");
    req.set_id("id-7");
    return req;
  }

  static std::string InitialMetadata(const grpc::ClientContext& ctx, const std::string& key) {
    const auto& md = ctx.GetServerInitialMetadata();
    auto it = md.find(key);
    return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{
      asio::make_work_guard(io_)};
  std::thread io_thread_;
  FixedRandom random_;
  Metrics metrics_;
  Router router_{SystemClock::Get(), random_, metrics_};
  FakeWorker blue_{"blue"};
  FakeWorker green_{"green"};
  GrpcGateway gateway_{router_, {&io_}, SystemClock::Get()};
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcGatewayTest, MissingOrWrongCredentialIsUnauthenticated) {
  Publish({{"blue", 100}});
  inference::ModelInferResponse res;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("berth-endpoint", "ep");
    grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(s.error_message(), HasSubstr("missing credential"));
  }
  {
    grpc::ClientContext ctx;
    Authorize(&ctx, "wrong");
    grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    Authorize(&ctx, "k2");  // the secondary key works too
    EXPECT_TRUE(stub_->ModelInfer(&ctx, InferRequest(), &res).ok());
  }
  EXPECT_EQ(blue_.calls(), 1);
  EXPECT_FALSE(blue_.saw_credential());  // the endpoint key stays at the gateway
}

TEST_F(GrpcGatewayTest, NoCredentialNeededWhenNotRequired) {
  // berthd --no-scoring-auth: the router requires no credential.
  Router open_router(SystemClock::Get(), random_, metrics_,
                     RouterOptions{.require_credentials = false});
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "ep";
  ep->traffic = {{"blue", 100}};
  ep->deployments["blue"] = Deployment("blue", blue_.port());
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["ep"] = ep;
  open_router.Publish(snapshot);
  GrpcGateway open_gateway(open_router, {&io_}, SystemClock::Get());
  auto port = open_gateway.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok()) << port.status();
  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("berth-endpoint", "ep");
  inference::ModelInferResponse res;
  grpc::Status s = stub->ModelInfer(&ctx, InferRequest(), &res);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(blue_.calls(), 1);
  open_gateway.Shutdown();
}

TEST_F(GrpcGatewayTest, EndpointMissingOrUnknown) {
  Publish({{"blue", 100}});
  inference::ModelInferResponse res;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer k1");
    grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("berth-endpoint"));
  }
  {
    // An unknown endpoint answers as a wrong key does: names cannot be probed.
    grpc::ClientContext ctx;
    ctx.AddMetadata("berth-endpoint", "nope");
    ctx.AddMetadata("authorization", "Bearer k1");
    grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(s.error_message(), "no valid key or token for endpoint 'nope'");
  }
  // ... and creates no metric series of its own.
  EXPECT_THAT(metrics_.RenderPrometheus(), Not(HasSubstr("nope")));
}

TEST_F(GrpcGatewayTest, ServerLiveWithoutEndpointIsBerthd) {
  grpc::ClientContext ctx;
  inference::ServerLiveResponse res;
  ASSERT_TRUE(stub_->ServerLive(&ctx, {}, &res).ok());
  EXPECT_TRUE(res.live());
}

TEST_F(GrpcGatewayTest, SplitRoutesInferAndTagsTheAnswer) {
  Publish({{"blue", 100}, {"green", 0}});
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelInferResponse res;
  grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.model_name(), "blue");
  EXPECT_EQ(res.id(), "id-7");
  EXPECT_EQ(InitialMetadata(ctx, "azureml-model-deployment"), "blue");
  std::string request_id = InitialMetadata(ctx, "x-request-id");
  EXPECT_FALSE(request_id.empty());
  EXPECT_EQ(blue_.last_request_id(), request_id);
  EXPECT_EQ(green_.calls(), 0);
  EXPECT_THAT(metrics_.RenderPrometheus(), HasSubstr("deployment=\"blue\""));
}

TEST_F(GrpcGatewayTest, DeploymentHeaderTargetsAnyDeployment) {
  Publish({{"blue", 100}, {"green", 0}});
  grpc::ClientContext ctx;
  Authorize(&ctx);
  ctx.AddMetadata("azureml-model-deployment", "green");
  inference::ModelInferResponse res;
  ASSERT_TRUE(stub_->ModelInfer(&ctx, InferRequest(), &res).ok());
  EXPECT_EQ(res.model_name(), "green");
  EXPECT_EQ(InitialMetadata(ctx, "azureml-model-deployment"), "green");

  grpc::ClientContext missing;
  Authorize(&missing);
  missing.AddMetadata("azureml-model-deployment", "red");
  EXPECT_EQ(stub_->ModelInfer(&missing, InferRequest(), &res).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcGatewayTest, MetadataGoesToTheLargestShare) {
  Publish({{"blue", 30}, {"green", 70}});
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelMetadataRequest req;
  req.set_name("m");
  inference::ModelMetadataResponse res;
  ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &res).ok());
  EXPECT_EQ(res.platform(), "green");
}

TEST_F(GrpcGatewayTest, DeploymentWithoutGrpcInstanceIsUnavailable) {
  auto rest_only = Deployment("blue", 0);
  Publish({{"blue", 100}}, {}, rest_only);
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelInferResponse res;
  grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("gRPC"));
}

TEST_F(GrpcGatewayTest, AdmissionRejectsBeyondTheQueue) {
  Publish({{"blue", 100}}, {}, Deployment("blue", blue_.port(), /*max_concurrent=*/1));
  blue_.Block();
  // One runs (held by the instance), one waits; a third is beyond 2 x concurrency.
  struct Pending {
    grpc::ClientContext ctx;
    inference::ModelInferRequest req = InferRequest();
    inference::ModelInferResponse res;
    std::promise<grpc::Status> done;
  };
  Pending first, second;
  for (Pending* p : {&first, &second}) {
    Authorize(&p->ctx);
    stub_->async()->ModelInfer(&p->ctx, &p->req, &p->res,
                               [p](grpc::Status s) { p->done.set_value(std::move(s)); });
    if (p == &first) ASSERT_TRUE(blue_.AwaitCalls(1));
  }
  absl::Time give_up = absl::Now() + kPatience;
  while (BlueGate()->waiting() < 1 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(BlueGate()->waiting(), 1);

  grpc::ClientContext third;
  Authorize(&third);
  inference::ModelInferResponse res;
  grpc::Status s = stub_->ModelInfer(&third, InferRequest(), &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(InitialMetadata(third, "azureml-model-deployment"), "blue");

  blue_.Unblock();
  EXPECT_TRUE(first.done.get_future().get().ok());
  EXPECT_TRUE(second.done.get_future().get().ok());
  EXPECT_EQ(blue_.calls(), 2);
  EXPECT_EQ(BlueGate()->running(), 0);  // each admitted call left exactly once
}

TEST_F(GrpcGatewayTest, ClientGivingUpWhileQueuedLeavesNoSlotTaken) {
  Publish({{"blue", 100}}, {}, Deployment("blue", blue_.port(), /*max_concurrent=*/1));
  blue_.Block();
  grpc::ClientContext first_ctx;
  Authorize(&first_ctx);
  inference::ModelInferRequest req = InferRequest();
  inference::ModelInferResponse first_res;
  std::promise<grpc::Status> first;
  stub_->async()->ModelInfer(&first_ctx, &req, &first_res,
                             [&](grpc::Status s) { first.set_value(std::move(s)); });
  ASSERT_TRUE(blue_.AwaitCalls(1));

  // Queued behind the first; the client stops waiting before a slot frees.
  grpc::ClientContext queued;
  Authorize(&queued);
  queued.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
  inference::ModelInferResponse res;
  EXPECT_EQ(stub_->ModelInfer(&queued, InferRequest(), &res).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  blue_.Unblock();
  EXPECT_TRUE(first.get_future().get().ok());
  // The abandoned call was admitted when the first left, and left again without going
  // upstream. It is counted once: as cancelled (499) when gRPC told the gateway the client
  // left, or as timed out (408) when the slot came first and the gateway saw the deadline.
  auto counted = [&] {
    std::string text = metrics_.RenderPrometheus();
    for (const char* code : {"499", "408"}) {
      if (text.find("berth_requests_total{endpoint=\"ep\",deployment=\"blue\",code=\"" +
                    std::string(code) + "\"} 1") != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  absl::Time give_up = absl::Now() + kPatience;
  while ((!counted() || BlueGate()->running() != 0 || BlueGate()->waiting() != 0) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_TRUE(counted()) << metrics_.RenderPrometheus();
  EXPECT_EQ(BlueGate()->running(), 0);
  EXPECT_EQ(BlueGate()->waiting(), 0);
  EXPECT_EQ(blue_.calls(), 1);
}

TEST_F(GrpcGatewayTest, ShutdownCancelsCallsStillRunning) {
  Publish({{"blue", 100}});
  blue_.Block();
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelInferRequest req = InferRequest();
  inference::ModelInferResponse res;
  std::promise<grpc::Status> done;
  stub_->async()->ModelInfer(&ctx, &req, &res,
                             [&](grpc::Status s) { done.set_value(std::move(s)); });
  ASSERT_TRUE(blue_.AwaitCalls(1));
  gateway_.Shutdown();  // the instance never answers: the grace period runs out
  EXPECT_FALSE(done.get_future().get().ok());
}

TEST_F(GrpcGatewayTest, SlowInstanceIsDeadlineExceeded) {
  auto slow = Deployment("blue", blue_.port());
  slow->request_settings.request_timeout_ms = 100;
  Publish({{"blue", 100}}, {}, slow);
  blue_.Block();
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelInferResponse res;
  grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(s.error_message(), HasSubstr("request_timeout_ms (100 ms)"));
  blue_.Unblock();
}

TEST_F(GrpcGatewayTest, MirrorCopyReachesTheMirrorButTheAnswerIsThePrimarys) {
  Publish({{"blue", 100}, {"green", 0}}, {{"green", 50}});
  random_.value = 0;  // picks blue, and mirrors (0 % 100 < 50)
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelInferResponse res;
  ASSERT_TRUE(stub_->ModelInfer(&ctx, InferRequest(), &res).ok());
  EXPECT_EQ(res.model_name(), "blue");
  ASSERT_TRUE(green_.AwaitCalls(1));
  EXPECT_EQ(blue_.calls(), 1);
  std::string want =
      "berth_mirror_requests_total{endpoint=\"ep\",deployment=\"green\",result=\"sent\"} 1";
  absl::Time give_up = absl::Now() + kPatience;
  while (metrics_.RenderPrometheus().find(want) == std::string::npos && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(metrics_.RenderPrometheus(), HasSubstr(want));

  // Targeted by header, it is not mirrored.
  grpc::ClientContext targeted;
  Authorize(&targeted);
  targeted.AddMetadata("azureml-model-deployment", "blue");
  ASSERT_TRUE(stub_->ModelInfer(&targeted, InferRequest(), &res).ok());
  EXPECT_EQ(green_.calls(), 1);
}

TEST_F(GrpcGatewayTest, EndpointClosedToPublicNetworkAccessIsPermissionDenied) {
  auto ep = std::make_shared<EndpointRouting>();
  ep->name = "ep";
  ep->primary_key = "k1";
  ep->traffic = {{"blue", 100}};
  ep->deployments["blue"] = Deployment("blue", blue_.port());
  ep->public_network_access = false;
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->endpoints["ep"] = ep;
  router_.Publish(snapshot);
  inference::ModelInferResponse res;
  {
    grpc::ClientContext ctx;
    Authorize(&ctx);
    grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(s.error_message(),
              "public network access to endpoint 'ep' is disabled; send requests to berthd's "
              "private listener");
  }
  {
    grpc::ClientContext ctx;
    Authorize(&ctx, "wrong");
    EXPECT_EQ(stub_->ModelInfer(&ctx, InferRequest(), &res).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(blue_.calls(), 0);
}

TEST_F(GrpcGatewayTest, InstancesOnAUnixSocketAreReached) {
  http::testing::TempSocketDir dir;
  FakeWorker on_socket("socket", dir.File("grpc.sock"));
  auto d = Deployment("blue", 0);
  d->ready.front().grpc_socket = dir.File("grpc.sock");
  Publish({{"blue", 100}}, {}, d);
  grpc::ClientContext ctx;
  Authorize(&ctx);
  inference::ModelInferResponse res;
  grpc::Status s = stub_->ModelInfer(&ctx, InferRequest(), &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.model_name(), "socket");
  EXPECT_EQ(on_socket.calls(), 1);
}

}  // namespace
}  // namespace berth::gateway
