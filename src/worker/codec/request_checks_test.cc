#include "worker/codec/request_checks.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::worker {
namespace {

using ::testing::HasSubstr;

Tensor Fp32(std::string name, std::vector<int64_t> shape) {
  Tensor t{std::move(name), DataType::kFp32, std::move(shape), {}};
  t.data.resize(static_cast<size_t>(ElementCount(t.shape)) * 4);
  return t;
}

ModelConfig Batching() {
  ModelConfig c;
  c.name = "m";
  c.max_batch_size = 8;
  c.inputs = {{"x", DataType::kFp32, {-1, 3}}, {"z", DataType::kFp32, {2}}};
  c.outputs = {{"y", DataType::kFp32, {1}}};
  return c;
}

ModelConfig NonBatching() {
  ModelConfig c;
  c.name = "m";
  c.inputs = {{"x", DataType::kFp32, {2, -1}}};
  c.outputs = {{"y", DataType::kFp32, {1}}};
  return c;
}

absl::Status Check(std::vector<Tensor> inputs, const ModelConfig& config,
                   std::vector<std::string> outputs = {}) {
  InferRequest r;
  r.inputs = std::move(inputs);
  r.requested_outputs = std::move(outputs);
  return CheckInferRequest(r, config);
}

TEST(RequestChecksTest, AcceptsValidRequests) {
  EXPECT_TRUE(Check({Fp32("x", {4, 5, 3}), Fp32("z", {4, 2})}, Batching(), {"y"}).ok());
  EXPECT_TRUE(Check({Fp32("z", {1, 2}), Fp32("x", {1, 1, 3})}, Batching()).ok());
  EXPECT_TRUE(Check({Fp32("x", {2, 7})}, NonBatching()).ok());
}

TEST(RequestChecksTest, UnknownMissingDuplicate) {
  absl::Status s = Check({Fp32("foo", {2, 1})}, NonBatching());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "unknown input 'foo' for model 'm'; it takes 'x'");
  EXPECT_EQ(Check({Fp32("x", {1, 1, 3})}, Batching()).message(), "missing input 'z'");
  EXPECT_THAT(Check({Fp32("x", {2, 1}), Fp32("x", {2, 1})}, NonBatching()).ToString(),
              HasSubstr("input 'x' is given more than once"));
}

TEST(RequestChecksTest, Datatype) {
  Tensor t{"x", DataType::kInt64, {2, 1}, std::string(16, '\0')};
  EXPECT_EQ(Check({t}, NonBatching()).message(), "input 'x': datatype INT64, model expects FP32");
}

TEST(RequestChecksTest, Shapes) {
  EXPECT_THAT(Check({Fp32("x", {3, 1})}, NonBatching()).ToString(),
              HasSubstr("input 'x': shape [3,1] does not match [2,-1]"));
  EXPECT_THAT(Check({Fp32("x", {2})}, NonBatching()).ToString(), HasSubstr("does not match"));
  EXPECT_THAT(Check({Fp32("x", {9, 1, 3}), Fp32("z", {9, 2})}, Batching()).ToString(),
              HasSubstr("input 'x': batch size 9 is outside 1..8"));
  EXPECT_THAT(Check({Fp32("x", {0, 1, 3}), Fp32("z", {0, 2})}, Batching()).ToString(),
              HasSubstr("batch size 0"));
  EXPECT_THAT(Check({Fp32("x", {2, 1, 3}), Fp32("z", {3, 2})}, Batching()).ToString(),
              HasSubstr("input 'z': batch size 3 differs from input 'x' (2)"));
  EXPECT_THAT(Check({Fp32("x", {2, 1, 4}), Fp32("z", {2, 2})}, Batching()).ToString(),
              HasSubstr("input 'x': shape [2,1,4] does not match [-1,-1,3]"));
  EXPECT_THAT(Check({Fp32("x", {}), Fp32("z", {2, 2})}, Batching()).ToString(),
              HasSubstr("no batch dimension"));
}

TEST(RequestChecksTest, TensorSizeAndOutputs) {
  Tensor t = Fp32("x", {2, 1});
  t.data.resize(4);
  EXPECT_THAT(Check({t}, NonBatching()).ToString(), HasSubstr("'x'"));
  EXPECT_THAT(Check({Fp32("x", {2, 1})}, NonBatching(), {"w"}).ToString(),
              HasSubstr("unknown output 'w'"));
}

}  // namespace
}  // namespace berth::worker
