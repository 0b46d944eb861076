#include "worker/backends/fake/fake_backend.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ModelConfig Config() {
  ModelConfig config;
  config.name = "m";
  config.backend = "fake";
  config.max_batch_size = 8;
  config.inputs = {{"x", DataType::kFp32, {2}}, {"ids", DataType::kInt64, {1}}};
  config.outputs = {{"y", DataType::kFp32, {2}}, {"ids_out", DataType::kInt64, {1}}};
  return config;
}

InferRequest Request(std::string id, int64_t rows = 1) {
  InferRequest request;
  request.id = std::move(id);
  Tensor x{"x", DataType::kFp32, {rows, 2}, {}};
  for (int64_t i = 0; i < rows * 2; ++i) {
    float v = static_cast<float>(i) + 0.5f;
    x.data.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  Tensor ids{"ids", DataType::kInt64, {rows, 1}, std::string(static_cast<size_t>(rows) * 8, '\7')};
  request.inputs = {std::move(x), std::move(ids)};
  return request;
}

absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const ModelConfig& config,
                                                    std::shared_ptr<FakeBackendLog> log) {
  LoadRequest load;
  load.config = &config;
  return MakeFakeBackend(std::move(log))->Load(load);
}

std::vector<InferResult> ExecuteAll(ModelInstance& instance,
                                    const std::vector<InferRequest>& requests) {
  std::vector<const InferRequest*> batch;
  for (const InferRequest& r : requests) batch.push_back(&r);
  return instance.Execute(batch);
}

TEST(FakeBackendTest, IsNamedFake) { EXPECT_EQ(MakeFakeBackend()->name(), "fake"); }

TEST(FakeBackendTest, IdentityReturnsInputsUnderOutputNames) {
  ModelConfig config = Config();
  auto instance = Load(config, std::make_shared<FakeBackendLog>());
  ASSERT_TRUE(instance.ok()) << instance.status();
  std::vector<InferRequest> requests = {Request("a", 2), Request("b", 1)};
  std::vector<InferResult> results = ExecuteAll(**instance, requests);
  ASSERT_EQ(results.size(), 2u);
  for (size_t r = 0; r < 2; ++r) {
    ASSERT_TRUE(results[r].ok()) << results[r].status();
    const std::vector<Tensor>& out = *results[r];
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].name, "y");
    EXPECT_EQ(out[1].name, "ids_out");
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(out[i].datatype, requests[r].inputs[i].datatype);
      EXPECT_EQ(out[i].shape, requests[r].inputs[i].shape);
      EXPECT_EQ(out[i].data, requests[r].inputs[i].data);
    }
  }
  EXPECT_FLOAT_EQ(results[0]->at(0).as<float>()[3], 3.5f);
}

TEST(FakeBackendTest, LoadRejectsAConfigIdentityCannotServe) {
  ModelConfig config = Config();
  config.outputs.pop_back();
  auto instance = Load(config, std::make_shared<FakeBackendLog>());
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(instance.status().message(), HasSubstr("as many outputs as inputs"));

  config = Config();
  config.outputs[1].datatype = DataType::kFp32;
  EXPECT_EQ(Load(config, std::make_shared<FakeBackendLog>()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FakeBackendTest, LoadRejectsBadParameters) {
  for (auto [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"behavior", "echo_reversed"}, {"sleep_us", "soon"}, {"fail_every", "-2"}}) {
    ModelConfig config = Config();
    config.parameters[key] = value;
    absl::Status status = Load(config, std::make_shared<FakeBackendLog>()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(status.message(), HasSubstr(key)) << key;
  }
}

TEST(FakeBackendTest, FailEveryCountsRequestsAcrossBatches) {
  ModelConfig config = Config();
  config.parameters["fail_every"] = "2";
  auto instance = Load(config, std::make_shared<FakeBackendLog>());
  ASSERT_TRUE(instance.ok());
  std::vector<InferResult> first =
      ExecuteAll(**instance, {Request("a"), Request("b"), Request("c")});
  std::vector<InferResult> second = ExecuteAll(**instance, {Request("d")});
  EXPECT_TRUE(first[0].ok());
  EXPECT_EQ(first[1].status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(first[1].status().message(), "fake backend: request #2 fails (fail_every=2)");
  EXPECT_TRUE(first[2].ok());
  EXPECT_EQ(second[0].status().message(), "fake backend: request #4 fails (fail_every=2)");
}

TEST(FakeBackendTest, FailIdFailsThatRequestAlone) {
  ModelConfig config = Config();
  config.parameters["fail_id"] = "bad";
  auto instance = Load(config, std::make_shared<FakeBackendLog>());
  ASSERT_TRUE(instance.ok());
  std::vector<InferResult> results = ExecuteAll(**instance, {Request("a"), Request("bad")});
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kInternal);
}

TEST(FakeBackendTest, PoisonIdFailsItsWholeBatch) {
  ModelConfig config = Config();
  config.parameters["poison_id"] = "bad";
  auto instance = Load(config, std::make_shared<FakeBackendLog>());
  ASSERT_TRUE(instance.ok());
  std::vector<InferResult> batch = ExecuteAll(**instance, {Request("a"), Request("bad")});
  EXPECT_FALSE(batch[0].ok());
  EXPECT_FALSE(batch[1].ok());
  EXPECT_TRUE(ExecuteAll(**instance, {Request("a")})[0].ok());
  EXPECT_EQ(ExecuteAll(**instance, {Request("bad")})[0].status().code(),
            absl::StatusCode::kInternal);
}

TEST(FakeBackendTest, LogRecordsEveryExecutionOfEveryInstance) {
  ModelConfig config = Config();
  config.parameters["sleep_us"] = "1";
  auto log = std::make_shared<FakeBackendLog>();
  auto one = Load(config, log);
  auto two = Load(config, log);
  ASSERT_TRUE(one.ok() && two.ok());
  ExecuteAll(**one, {Request("a", 3), Request("b", 2)});
  ExecuteAll(**two, {Request("c")});
  EXPECT_THAT(log->batch_requests(), ElementsAre(2, 1));
  EXPECT_THAT(log->batch_rows(), ElementsAre(5, 1));
  EXPECT_THAT(log->executions()[0].ids, ElementsAre("a", "b"));
}

}  // namespace
}  // namespace berth::worker
