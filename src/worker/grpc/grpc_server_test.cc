#include "worker/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "oip/grpc_service.grpc.pb.h"

namespace berth::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// An identity model "echo": every input comes back as an output of the same name. Answers from
// its own thread, as the batcher does. "slow-missing" fails NOT_FOUND, "broken" fails INTERNAL.
class FakeService : public InferenceService {
 public:
  ~FakeService() override {
    for (auto& t : threads_) t.join();
  }
  bool Live() const override { return true; }
  bool Ready() const override { return ready_; }
  worker::ServerMetadata Metadata() const override {
    return {"berth-worker", "0.1.0", {"binary_tensor_data"}};
  }
  absl::StatusOr<ModelMetadata> GetModelMetadata(std::string_view model,
                                                 std::string_view version) const override {
    if (model != "echo") return absl::NotFoundError("model '" + std::string(model) + "' not found");
    return ModelMetadata{"echo",
                         {"1"},
                         "fake",
                         {{"x", DataType::kFp32, {-1, 2}}},
                         {{"x", DataType::kFp32, {-1, 2}}}};
  }
  absl::StatusOr<bool> ModelReady(std::string_view model, std::string_view) const override {
    if (model != "echo") return absl::NotFoundError("model '" + std::string(model) + "' not found");
    return true;
  }
  absl::StatusOr<const ModelConfig*> GetModelConfig(std::string_view) const override {
    return absl::UnimplementedError("unused");
  }
  absl::StatusOr<std::string> DefaultModel() const override { return std::string("echo"); }
  void Infer(std::string_view model, std::string_view version, InferRequest request,
             InferCallback done) override {
    if (model == "broken") {
      done(absl::InternalError("model 'broken' failed"));
      return;
    }
    if (model != "echo") {
      done(absl::NotFoundError("model '" + std::string(model) + "' not found"));
      return;
    }
    last_request_ = request;
    threads_.emplace_back([request = std::move(request), done = std::move(done)]() mutable {
      InferResponse response{"echo", "1", "", std::move(request.inputs)};
      done(std::move(response));
    });
  }

  bool ready_ = true;
  InferRequest last_request_;
  std::vector<std::thread> threads_;
};

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = server_.Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    ASSERT_GT(*port, 0);
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Infer(const inference::ModelInferRequest& req, inference::ModelInferResponse* res) {
    grpc::ClientContext ctx;
    return stub_->ModelInfer(&ctx, req, res);
  }

  FakeService fake_;
  GrpcInferenceServer server_{fake_};
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

template <typename T>
std::string Raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

TEST_F(GrpcServerTest, HealthAndMetadata) {
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse res;
    ASSERT_TRUE(stub_->ServerLive(&ctx, {}, &res).ok());
    EXPECT_TRUE(res.live());
  }
  {
    fake_.ready_ = false;
    grpc::ClientContext ctx;
    inference::ServerReadyResponse res;
    ASSERT_TRUE(stub_->ServerReady(&ctx, {}, &res).ok());
    EXPECT_FALSE(res.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerMetadataResponse res;
    ASSERT_TRUE(stub_->ServerMetadata(&ctx, {}, &res).ok());
    EXPECT_EQ(res.name(), "berth-worker");
    EXPECT_THAT(res.extensions(), ElementsAre("binary_tensor_data"));
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("echo");
    inference::ModelReadyResponse res;
    ASSERT_TRUE(stub_->ModelReady(&ctx, req, &res).ok());
    EXPECT_TRUE(res.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("echo");
    inference::ModelMetadataResponse res;
    ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &res).ok());
    EXPECT_EQ(res.platform(), "fake");
    ASSERT_EQ(res.inputs_size(), 1);
    EXPECT_EQ(res.inputs(0).datatype(), "FP32");
    EXPECT_THAT(res.inputs(0).shape(), ElementsAre(-1, 2));
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("nope");
    inference::ModelMetadataResponse res;
    grpc::Status s = stub_->ModelMetadata(&ctx, req, &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(s.error_message(), HasSubstr("nope"));
  }
}

TEST_F(GrpcServerTest, InferRawAnswersRaw) {
  inference::ModelInferRequest req;
  req.set_model_name("echo");
  req.set_id("req-1");
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(2);
  req.add_raw_input_contents(Raw<float>({1.5f, -2.0f}));
  inference::ModelInferResponse res;
  grpc::Status s = Infer(req, &res);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(res.id(), "req-1");
  EXPECT_EQ(res.model_name(), "echo");
  EXPECT_EQ(res.model_version(), "1");
  ASSERT_EQ(res.outputs_size(), 1);
  EXPECT_EQ(res.outputs(0).datatype(), "FP32");
  EXPECT_THAT(res.outputs(0).shape(), ElementsAre(1, 2));
  ASSERT_EQ(res.raw_output_contents_size(), 1);
  EXPECT_EQ(res.raw_output_contents(0), Raw<float>({1.5f, -2.0f}));
  EXPECT_EQ(fake_.last_request_.id, "req-1");
}

TEST_F(GrpcServerTest, InferTypedAnswersTyped) {
  inference::ModelInferRequest req;
  req.set_model_name("echo");
  auto add = [&](const std::string& name, const std::string& type, int64_t n) {
    auto* in = req.add_inputs();
    in->set_name(name);
    in->set_datatype(type);
    in->add_shape(n);
    return in->mutable_contents();
  };
  auto* i8 = add("i8", "INT8", 2);
  i8->add_int_contents(-3);
  i8->add_int_contents(100);
  auto* u16 = add("u16", "UINT16", 1);
  u16->add_uint_contents(65535);
  add("i64", "INT64", 1)->add_int64_contents(-1ll << 40);
  auto* b = add("b", "BOOL", 2);
  b->add_bool_contents(true);
  b->add_bool_contents(false);
  add("f64", "FP64", 1)->add_fp64_contents(0.25);
  auto* s = add("s", "BYTES", 2);
  s->add_bytes_contents("hi");
  s->add_bytes_contents("");
  req.add_outputs()->set_name("s");  // passed on as requested outputs
  inference::ModelInferResponse res;
  grpc::Status st = Infer(req, &res);
  ASSERT_TRUE(st.ok()) << st.error_message();

  // The model saw raw little-endian bytes.
  const auto& inputs = fake_.last_request_.inputs;
  ASSERT_EQ(inputs.size(), 6u);
  EXPECT_EQ(inputs[0].datatype, DataType::kInt8);
  EXPECT_EQ(inputs[0].data, Raw<int8_t>({-3, 100}));
  EXPECT_EQ(inputs[1].data, Raw<uint16_t>({65535}));
  EXPECT_EQ(inputs[2].data, Raw<int64_t>({-1ll << 40}));
  EXPECT_EQ(inputs[3].data, std::string("\x01\x00", 2));
  EXPECT_EQ(inputs[5].data, std::string("\x02\x00\x00\x00hi\x00\x00\x00\x00", 10));
  EXPECT_THAT(fake_.last_request_.requested_outputs, ElementsAre("s"));

  // And the answer comes back typed.
  EXPECT_EQ(res.raw_output_contents_size(), 0);
  ASSERT_EQ(res.outputs_size(), 6);
  EXPECT_THAT(res.outputs(0).contents().int_contents(), ElementsAre(-3, 100));
  EXPECT_THAT(res.outputs(1).contents().uint_contents(), ElementsAre(65535u));
  EXPECT_THAT(res.outputs(2).contents().int64_contents(), ElementsAre(-1ll << 40));
  EXPECT_THAT(res.outputs(3).contents().bool_contents(), ElementsAre(true, false));
  EXPECT_THAT(res.outputs(4).contents().fp64_contents(), ElementsAre(0.25));
  EXPECT_THAT(res.outputs(5).contents().bytes_contents(), ElementsAre("hi", ""));
}

TEST_F(GrpcServerTest, BadRequestsAreInvalidArgumentNamingTheInput) {
  auto base = [] {
    inference::ModelInferRequest req;
    req.set_model_name("echo");
    auto* in = req.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(2);
    return req;
  };
  struct Case {
    std::string what;
    inference::ModelInferRequest req;
    std::string message;
  };
  std::vector<Case> cases;
  {
    auto r = base();
    r.mutable_inputs(0)->set_datatype("FLOAT");
    cases.push_back({"unknown datatype", r, "unknown datatype 'FLOAT'"});
  }
  {
    auto r = base();
    r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
    cases.push_back({"count", r, "1 elements in fp32_contents, want 2"});
  }
  {
    auto r = base();
    r.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
    r.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
    cases.push_back({"wrong field", r, "go in fp32_contents"});
  }
  {
    auto r = base();
    r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
    r.add_raw_input_contents(Raw<float>({1, 2}));
    cases.push_back({"mixed", r, "raw_input_contents"});
  }
  {
    auto r = base();
    r.add_raw_input_contents(Raw<float>({1}));
    cases.push_back({"raw size", r, "'x'"});
  }
  {
    auto r = base();
    r.mutable_inputs(0)->set_datatype("INT8");
    r.mutable_inputs(0)->mutable_contents()->add_int_contents(1);
    r.mutable_inputs(0)->mutable_contents()->add_int_contents(300);
    cases.push_back({"range", r, "300 does not fit"});
  }
  {
    auto r = base();
    r.mutable_inputs(0)->set_datatype("FP16");
    cases.push_back({"fp16 typed", r, "raw_input_contents"});
  }
  for (const Case& c : cases) {
    inference::ModelInferResponse res;
    grpc::Status s = Infer(c.req, &res);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_THAT(s.error_message(), HasSubstr(c.message)) << c.what;
    EXPECT_THAT(s.error_message(), HasSubstr("'x'")) << c.what;
  }
}

TEST_F(GrpcServerTest, ServiceErrorsKeepTheirCode) {
  inference::ModelInferRequest req;
  req.set_model_name("missing");
  inference::ModelInferResponse res;
  EXPECT_EQ(Infer(req, &res).error_code(), grpc::StatusCode::NOT_FOUND);
  req.set_model_name("broken");
  grpc::Status s = Infer(req, &res);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(s.error_message(), HasSubstr("failed"));
}

TEST(GrpcServerStartTest, BusyPortIsUnavailable) {
  FakeService fake;
  GrpcInferenceServer first(fake);
  auto port = first.Start("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  GrpcInferenceServer second(fake);
  auto again = second.Start("127.0.0.1", *port);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
}

TEST(GrpcServerUnixTest, ServesOnAUnixSocketWithMode0600AndRemovesItAtShutdown) {
  char dir_template[] = "/tmp/berth-grpc-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  std::string path = dir + "/grpc.sock";
  FakeService fake;
  {
    GrpcInferenceServer server(fake);
    absl::Status started = server.StartOnUnixSocket(path);
    ASSERT_TRUE(started.ok()) << started;
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto stub = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel("unix:" + path, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    inference::ModelReadyRequest req;
    req.set_name("echo");
    inference::ModelReadyResponse res;
    grpc::Status status = stub->ModelReady(&ctx, req, &res);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(res.ready());
    server.Shutdown();
    EXPECT_NE(::stat(path.c_str(), &st), 0) << "the socket file is left behind";
  }
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace berth::worker
