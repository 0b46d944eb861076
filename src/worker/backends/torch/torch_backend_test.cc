#include "worker/backends/torch/torch_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "worker/backends/generated_models_for_test.h"

namespace berth::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ReadFloats;

// Writes the TorchScript models and the outputs torch itself computes for them.
constexpr char kGenerate[] = R"PY(
import sys, torch
out = sys.argv[1]
torch.manual_seed(1234)

class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 4))
    def forward(self, x):
        return self.net(x)

class Pair(torch.nn.Module):
    def forward(self, x, y):
        return (x * 2.0 + y, (x * y).sum(dim=1, keepdim=True))

class Wide(torch.nn.Module):  # takes 5 features; configs below claim 4
    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(5, 2)
    def forward(self, x):
        return self.l(x)

class Double(torch.nn.Module):
    def forward(self, x):
        return x.double()

mlp = Mlp().eval()
torch.jit.script(mlp).save(out + "/mlp/1/model.pt")
x = torch.randn(6, 8)
with torch.no_grad():
    y = mlp(x)
x.numpy().astype("<f4").tofile(out + "/mlp_x.bin")
y.numpy().astype("<f4").tofile(out + "/mlp_y.bin")

torch.jit.script(Pair()).save(out + "/pair/1/custom.pt")
torch.jit.script(Wide()).save(out + "/wide/1/model.pt")
torch.jit.script(Double()).save(out + "/double/1/model.pt")
)PY";

Tensor FloatTensor(std::string name, std::vector<int64_t> shape, const float* values) {
  Tensor t;
  t.name = std::move(name);
  t.datatype = DataType::kFp32;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(values), ElementCount(t.shape) * sizeof(float));
  return t;
}

ModelConfig Config(std::string name, int max_batch_size, std::vector<TensorConfig> inputs,
                   std::vector<TensorConfig> outputs) {
  ModelConfig c;
  c.name = std::move(name);
  c.platform = "pytorch_libtorch";
  c.backend = "pytorch";
  c.max_batch_size = max_batch_size;
  c.inputs = std::move(inputs);
  c.outputs = std::move(outputs);
  return c;
}

class TorchBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    models_ = new testing::GeneratedModels("berth-torch-test-", kGenerate,
                                           {"mlp/1", "pair/1", "wide/1", "double/1"});
  }
  static void TearDownTestSuite() { delete models_; }
  void SetUp() override { ASSERT_TRUE(models_->ok()) << "generating models with " BERTH_PYTHON; }

  absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const ModelConfig& config) {
    LoadRequest request;
    request.config = &config;
    request.version_dir = models_->dir() / config.name / "1";
    request.intra_op_threads = 1;
    return backend_->Load(request);
  }

  static testing::GeneratedModels* models_;
  std::unique_ptr<Backend> backend_ = MakeTorchBackend();
};

testing::GeneratedModels* TorchBackendTest::models_ = nullptr;

TEST_F(TorchBackendTest, BatchOfThreeMatchesTorch) {
  EXPECT_EQ(backend_->name(), "pytorch");
  ModelConfig config =
      Config("mlp", 8, {{"x", DataType::kFp32, {8}}}, {{"y", DataType::kFp32, {4}}});
  auto instance = Load(config);
  ASSERT_TRUE(instance.ok()) << instance.status();

  std::vector<float> x = ReadFloats(models_->dir() / "mlp_x.bin");
  std::vector<float> want = ReadFloats(models_->dir() / "mlp_y.bin");
  ASSERT_EQ(x.size(), 6u * 8);
  ASSERT_EQ(want.size(), 6u * 4);

  // Rows 0 | 1-2 | 3-5 as three requests.
  const std::vector<int64_t> rows = {1, 2, 3};
  std::vector<InferRequest> requests(3);
  int64_t row = 0;
  for (size_t i = 0; i < 3; ++i) {
    requests[i].id = "r" + std::to_string(i);
    requests[i].inputs.push_back(FloatTensor("x", {rows[i], 8}, x.data() + row * 8));
    row += rows[i];
  }
  std::vector<const InferRequest*> batch = {&requests[0], &requests[1], &requests[2]};
  std::vector<InferResult> results = (*instance)->Execute(batch);
  ASSERT_EQ(results.size(), 3u);
  row = 0;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    ASSERT_EQ(results[i]->size(), 1u);
    const Tensor& y = results[i]->front();
    EXPECT_EQ(y.name, "y");
    EXPECT_EQ(y.datatype, DataType::kFp32);
    EXPECT_EQ(y.shape, (std::vector<int64_t>{rows[i], 4}));
    ASSERT_EQ(y.data.size(), rows[i] * 4 * sizeof(float));
    double max_diff = 0;
    for (int64_t k = 0; k < rows[i] * 4; ++k) {
      max_diff = std::max<double>(max_diff, std::abs(y.as<float>()[k] - want[row * 4 + k]));
    }
    EXPECT_LE(max_diff, 1e-5) << "request " << i;
    row += rows[i];
  }

  // A single request runs over its own bytes (no concatenation) and gives the same answer.
  std::vector<const InferRequest*> single = {&requests[2]};
  std::vector<InferResult> alone = (*instance)->Execute(single);
  ASSERT_TRUE(alone[0].ok()) << alone[0].status();
  EXPECT_EQ(alone[0]->front().data, results[2]->front().data);
}

TEST_F(TorchBackendTest, TupleOutputsMapToConfigOutputsInOrder) {
  ModelConfig config =
      Config("pair", 0, {{"x", DataType::kFp32, {2, 3}}, {"y", DataType::kFp32, {2, 3}}},
             {{"sum", DataType::kFp32, {2, 3}}, {"dot", DataType::kFp32, {2, 1}}});
  config.default_model_filename = "custom.pt";
  auto instance = Load(config);
  ASSERT_TRUE(instance.ok()) << instance.status();

  const float x[] = {1, 2, 3, 4, 5, 6};
  const float y[] = {1, 1, 1, 2, 2, 2};
  InferRequest request;
  // Inputs in the opposite order from the config: the backend matches them by name.
  request.inputs.push_back(FloatTensor("y", {2, 3}, y));
  request.inputs.push_back(FloatTensor("x", {2, 3}, x));
  std::vector<const InferRequest*> batch = {&request};
  std::vector<InferResult> results = (*instance)->Execute(batch);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  ASSERT_EQ(results[0]->size(), 2u);
  const Tensor& sum = (*results[0])[0];
  const Tensor& dot = (*results[0])[1];
  EXPECT_EQ(sum.name, "sum");
  EXPECT_EQ(sum.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(std::vector<float>(sum.as<float>(), sum.as<float>() + 6),
              ::testing::ElementsAre(3, 5, 7, 10, 12, 14));
  EXPECT_EQ(dot.name, "dot");
  EXPECT_EQ(dot.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_THAT(std::vector<float>(dot.as<float>(), dot.as<float>() + 2),
              ::testing::ElementsAre(6, 30));
}

TEST_F(TorchBackendTest, OutputCountMismatchIsInternal) {
  ModelConfig config =
      Config("pair", 0, {{"x", DataType::kFp32, {1, 3}}, {"y", DataType::kFp32, {1, 3}}},
             {{"sum", DataType::kFp32, {1, 3}}});
  config.default_model_filename = "custom.pt";
  auto instance = Load(config);
  ASSERT_TRUE(instance.ok()) << instance.status();
  const float x[] = {1, 2, 3};
  InferRequest request;
  request.inputs.push_back(FloatTensor("x", {1, 3}, x));
  request.inputs.push_back(FloatTensor("y", {1, 3}, x));
  std::vector<const InferRequest*> batch = {&request};
  std::vector<InferResult> results = (*instance)->Execute(batch);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(results[0].status().message(), HasSubstr("2 outputs"));
  EXPECT_THAT(results[0].status().message(), HasSubstr("'sum'"));
}

TEST_F(TorchBackendTest, MissingFileIsFailedPrecondition) {
  ModelConfig config =
      Config("mlp", 8, {{"x", DataType::kFp32, {8}}}, {{"y", DataType::kFp32, {4}}});
  config.default_model_filename = "absent.pt";
  auto instance = Load(config);
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(instance.status().message(), HasSubstr("absent.pt"));
}

TEST_F(TorchBackendTest, UnreadableFileIsFailedPrecondition) {
  fs::create_directories(models_->dir() / "junk" / "1");
  std::ofstream(models_->dir() / "junk" / "1" / "model.pt") << "not a zip archive";
  ModelConfig config =
      Config("junk", 8, {{"x", DataType::kFp32, {8}}}, {{"y", DataType::kFp32, {4}}});
  auto instance = Load(config);
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(instance.status().message(), HasSubstr("model.pt"));
}

TEST_F(TorchBackendTest, BytesInputIsInvalidArgument) {
  ModelConfig config =
      Config("mlp", 8, {{"text", DataType::kBytes, {1}}}, {{"y", DataType::kFp32, {4}}});
  auto instance = Load(config);
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(instance.status().message(), HasSubstr("'text'"));
}

TEST_F(TorchBackendTest, ForwardExceptionFailsEveryRequestWithInternal) {
  ModelConfig config =
      Config("wide", 4, {{"x", DataType::kFp32, {4}}}, {{"y", DataType::kFp32, {2}}});
  auto instance = Load(config);
  ASSERT_TRUE(instance.ok()) << instance.status();
  const float x[] = {1, 2, 3, 4, 5, 6, 7, 8};
  InferRequest a, b;
  a.inputs.push_back(FloatTensor("x", {1, 4}, x));
  b.inputs.push_back(FloatTensor("x", {1, 4}, x + 4));
  std::vector<const InferRequest*> batch = {&a, &b};
  std::vector<InferResult> results = (*instance)->Execute(batch);
  ASSERT_EQ(results.size(), 2u);
  for (const InferResult& r : results) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(r.status().message(), HasSubstr("shapes cannot be multiplied"));
    EXPECT_THAT(std::string(r.status().message()), ::testing::Not(HasSubstr("\n")));
  }
}

TEST_F(TorchBackendTest, OutputDatatypeMismatchIsInternal) {
  ModelConfig config =
      Config("double", 4, {{"x", DataType::kFp32, {2}}}, {{"y", DataType::kFp32, {2}}});
  auto instance = Load(config);
  ASSERT_TRUE(instance.ok()) << instance.status();
  const float x[] = {1, 2};
  InferRequest request;
  request.inputs.push_back(FloatTensor("x", {1, 2}, x));
  std::vector<const InferRequest*> batch = {&request};
  std::vector<InferResult> results = (*instance)->Execute(batch);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(results[0].status().message(), HasSubstr("output 'y' is Float64, config says FP32"));
}

TEST_F(TorchBackendTest, IntraOpThreadCountParameterMustBeANumber) {
  ModelConfig config =
      Config("mlp", 8, {{"x", DataType::kFp32, {8}}}, {{"y", DataType::kFp32, {4}}});
  config.parameters["INTRA_OP_THREAD_COUNT"] = "many";
  auto instance = Load(config);
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kInvalidArgument);
  config.parameters["INTRA_OP_THREAD_COUNT"] = "1";
  EXPECT_TRUE(Load(config).ok());
}

}  // namespace
}  // namespace berth::worker
