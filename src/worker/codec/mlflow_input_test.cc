#include "worker/codec/mlflow_input.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::worker {
namespace {

using ::testing::HasSubstr;

std::vector<float> Values(const Tensor& t) {
  return std::vector<float>(t.as<float>(), t.as<float>() + t.data.size() / 4);
}

MlflowInputSpec Spec(std::vector<std::string> columns = {}, int64_t features = -1) {
  MlflowInputSpec s;
  s.columns = std::move(columns);
  s.num_features = features;
  return s;
}

void ExpectMatrix(const absl::StatusOr<Tensor>& t, std::vector<int64_t> shape,
                  std::vector<float> values) {
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->name, "input");
  EXPECT_EQ(t->datatype, DataType::kFp32);
  EXPECT_EQ(t->shape, shape);
  EXPECT_EQ(Values(*t), values);
}

TEST(MlflowInputTest, EveryFormat) {
  const auto spec = Spec({"a", "b"}, 2);
  const std::vector<float> want = {1, 2, 3, 4};
  ExpectMatrix(DecodeMlflowInput(
                   R"({"dataframe_split": {"columns": ["b", "a"], "index": [0, 1],
                       "data": [[2, 1], [4, 3]]}})",
                   spec),
               {2, 2}, want);
  ExpectMatrix(
      DecodeMlflowInput(R"({"dataframe_records": [{"b": 2, "a": 1}, {"a": 3, "b": 4}]})", spec),
      {2, 2}, want);
  ExpectMatrix(DecodeMlflowInput(R"({"instances": [[1, 2], [3, 4]]})", spec), {2, 2}, want);
  ExpectMatrix(DecodeMlflowInput(R"({"instances": [{"a": 1, "b": 2}, {"b": 4, "a": 3}]})", spec),
               {2, 2}, want);
  ExpectMatrix(DecodeMlflowInput(R"({"inputs": [[1, 2], [3, 4]]})", spec), {2, 2}, want);
  ExpectMatrix(DecodeMlflowInput(R"({"inputs": {"b": [2, 4], "a": [1, 3]}})", spec), {2, 2}, want);
  ExpectMatrix(DecodeMlflowInput(
                   R"({"input_data": {"columns": ["b", "a"], "index": [0, 1],
                       "data": [[2, 1], [4, 3]]}})",
                   spec),
               {2, 2}, want);
  ExpectMatrix(DecodeMlflowInput(R"({"input_data": [[1, 2], [3, 4]]})", spec), {2, 2}, want);
}

TEST(MlflowInputTest, WithoutSignatureKeepsGivenOrder) {
  ExpectMatrix(DecodeMlflowInput(R"({"dataframe_records": [{"z": 1, "a": 2}]})", Spec()), {1, 2},
               {1, 2});
  ExpectMatrix(DecodeMlflowInput(
                   R"({"dataframe_split": {"columns": ["z", "a"], "data": [[1, 2]]}})", Spec()),
               {1, 2}, {1, 2});
  ExpectMatrix(DecodeMlflowInput(R"({"inputs": [[1, 2, 3]]})", Spec({}, 3)), {1, 3}, {1, 2, 3});
}

TEST(MlflowInputTest, ExtraColumnsIgnoredAndNullIsMissing) {
  auto t = DecodeMlflowInput(R"({"dataframe_records": [{"a": null, "b": true, "extra": "x"}]})",
                             Spec({"a", "b"}));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(std::isnan(Values(*t)[0]));
  EXPECT_EQ(Values(*t)[1], 1.0f);
}

TEST(MlflowInputTest, Errors) {
  const auto spec = Spec({"f1", "f2", "f3"}, 3);
  absl::Status s =
      DecodeMlflowInput(R"({"dataframe_split": {"columns": ["f1", "f2"], "data": [[1, 2]]}})", spec)
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "missing column 'f3'");
  EXPECT_THAT(
      DecodeMlflowInput(
          R"({"dataframe_records": [{"f1": 1, "f2": 2, "f3": 3}, {"f1": 1, "f2": 2}]})", spec)
          .status()
          .ToString(),
      HasSubstr("missing column 'f3' in row 1"));
  EXPECT_THAT(DecodeMlflowInput(R"({"inputs": {"f1": [1], "f2": [2]}})", spec).status().ToString(),
              HasSubstr("missing column 'f3'"));
  EXPECT_THAT(DecodeMlflowInput(R"({"instances": [[1, 2, 3], [4, "abc", 6], [7, 8, 9]]})", spec)
                  .status()
                  .ToString(),
              HasSubstr("column 'f2', row 1: \"abc\" is not a number"));
  EXPECT_THAT(DecodeMlflowInput(R"({"instances": [[1, 2, 3], [4, 5]]})", spec).status().ToString(),
              HasSubstr("row 1 has 2 values; expected 3"));
  EXPECT_THAT(DecodeMlflowInput(R"({"instances": [[1, [2], 3]]})", Spec({}, 3)).status().ToString(),
              HasSubstr("column 1, row 0: [2] is not a number"));
  EXPECT_THAT(DecodeMlflowInput(R"({"inputs": [[1, 2]], "instances": [[1, 2]]})", Spec())
                  .status()
                  .ToString(),
              HasSubstr("send one"));
  EXPECT_THAT(DecodeMlflowInput(R"({"data": [[1, 2]]})", Spec()).status().ToString(),
              HasSubstr("needs one of"));
  EXPECT_THAT(DecodeMlflowInput(R"({"inputs": [[1, 2]]})", Spec({}, 3)).status().ToString(),
              HasSubstr("row 0 has 2 values; expected 3"));
  EXPECT_THAT(DecodeMlflowInput(R"({"inputs": []})", Spec()).status().ToString(),
              HasSubstr("no rows"));
  EXPECT_THAT(DecodeMlflowInput(R"({"inputs": [[1,)", Spec()).status().ToString(),
              HasSubstr("malformed JSON"));
  EXPECT_THAT(DecodeMlflowInput(R"({"instances": [1, 2]})", Spec()).status().ToString(),
              HasSubstr("row 0 must be a list"));
}

TEST(MlflowInputTest, EncodesPredictions) {
  Tensor f{"y", DataType::kFp32, {3}, {}};
  const float fv[] = {0.5f, 0.1f, 2.0f};
  f.data.assign(reinterpret_cast<const char*>(fv), sizeof(fv));
  EXPECT_EQ(EncodeMlflowPredictions(f), "[0.5,0.1,2]");

  Tensor i{"y", DataType::kInt64, {2, 2}, {}};
  const int64_t iv[] = {1, -2, 3, 4};
  i.data.assign(reinterpret_cast<const char*>(iv), sizeof(iv));
  EXPECT_EQ(EncodeMlflowPredictions(i), "[[1,-2],[3,4]]");

  Tensor three{"y", DataType::kInt64, {2, 1, 2}, i.data};
  EXPECT_EQ(EncodeMlflowPredictions(three), "[[[1,-2]],[[3,4]]]");

  Tensor scalar{"y", DataType::kInt64, {}, std::string(reinterpret_cast<const char*>(iv), 8)};
  EXPECT_EQ(EncodeMlflowPredictions(scalar), "[1]");

  Tensor empty{"y", DataType::kFp32, {2, 0}, {}};
  EXPECT_EQ(EncodeMlflowPredictions(empty), "[[],[]]");
}

}  // namespace
}  // namespace berth::worker
