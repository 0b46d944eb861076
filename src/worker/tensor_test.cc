#include "worker/tensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

namespace berth::worker {
namespace {

using ::testing::HasSubstr;

Tensor Floats(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t{"x", DataType::kFp32, std::move(shape), {}};
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

TEST(TensorTest, DataTypeNames) {
  EXPECT_EQ(DataTypeFromName("FP32"), DataType::kFp32);
  EXPECT_EQ(DataTypeFromName("fp32"), std::nullopt);
  EXPECT_EQ(DataTypeName(DataType::kBytes), "BYTES");
  EXPECT_EQ(DataTypeFromConfigName("TYPE_STRING"), DataType::kBytes);
  EXPECT_EQ(ElementSize(DataType::kBf16), 2u);
}

TEST(TensorTest, CheckTensorSize) {
  EXPECT_TRUE(CheckTensorSize(Floats({2, 2}, {1, 2, 3, 4})).ok());
  auto bad = CheckTensorSize(Floats({2, 3}, {1, 2, 3, 4}));
  EXPECT_THAT(bad.message(), HasSubstr("16 bytes for shape [2,3] of FP32, want 24"));
  Tensor bytes{"s", DataType::kBytes, {2}, {}};
  AppendBytesElement("ab", &bytes.data);
  AppendBytesElement("", &bytes.data);
  EXPECT_TRUE(CheckTensorSize(bytes).ok());
  EXPECT_EQ(BytesElements(bytes), (std::vector<std::string_view>{"ab", ""}));
  bytes.shape = {3};
  EXPECT_THAT(CheckTensorSize(bytes).message(), HasSubstr("needs 3 BYTES elements, got 2"));
  bytes.data.pop_back();
  bytes.data.pop_back();
  EXPECT_FALSE(CheckTensorSize(bytes).ok());
}

TEST(TensorTest, ConcatAndSplitRoundTrip) {
  Tensor a = Floats({1, 2}, {1, 2});
  Tensor b = Floats({2, 2}, {3, 4, 5, 6});
  const Tensor* parts[] = {&a, &b};
  auto whole = ConcatBatch(parts);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->shape, (std::vector<int64_t>{3, 2}));
  std::vector<int64_t> sizes = {1, 2};
  auto pieces = SplitBatch(*whole, sizes);
  ASSERT_TRUE(pieces.ok());
  EXPECT_EQ((*pieces)[0].data, a.data);
  EXPECT_EQ((*pieces)[1].data, b.data);
  EXPECT_EQ((*pieces)[1].shape, b.shape);
  std::vector<int64_t> wrong = {1, 1};
  EXPECT_FALSE(SplitBatch(*whole, wrong).ok());
  Tensor c = Floats({1, 3}, {1, 2, 3});
  const Tensor* mismatched[] = {&a, &c};
  EXPECT_FALSE(ConcatBatch(mismatched).ok());
}

TEST(TensorTest, SplitBytesByRow) {
  Tensor s{"s", DataType::kBytes, {3, 1}, {}};
  for (const char* e : {"a", "bcd", "ef"}) AppendBytesElement(e, &s.data);
  std::vector<int64_t> sizes = {2, 1};
  auto pieces = SplitBatch(s, sizes);
  ASSERT_TRUE(pieces.ok());
  EXPECT_EQ(BytesElements((*pieces)[0]), (std::vector<std::string_view>{"a", "bcd"}));
  EXPECT_EQ(BytesElements((*pieces)[1]), (std::vector<std::string_view>{"ef"}));
}

}  // namespace
}  // namespace berth::worker
