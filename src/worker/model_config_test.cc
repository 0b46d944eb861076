#include "worker/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace berth::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kMlp[] = R"pb(
  name: "mlp"
  platform: "pytorch_libtorch"
  max_batch_size: 32 input
  [ {
    name: "INPUT__0"
    data_type: TYPE_FP32
    dims: [ 64 ]
  }] output
  [ {
    name: "OUTPUT__0"
    data_type: TYPE_FP32
    dims: [ 10 ]
  }]
  dynamic_batching {
    preferred_batch_size: [ 16, 8 ]
    max_queue_delay_microseconds: 500
  } instance_group
  [ { count: 2 kind: KIND_CPU }]
  version_policy: { latest { num_versions: 2 } }
  parameters {
    key: "INTRA_OP_THREAD_COUNT"
    value: { string_value: "1" }
  }
)pb";

TEST(ModelConfigTest, ReadsHonouredFields) {
  auto parsed = ParseModelConfig(kMlp, "mlp");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const ModelConfig& c = parsed->config;
  EXPECT_TRUE(parsed->warnings.empty());
  EXPECT_EQ(c.backend, "pytorch");
  EXPECT_EQ(c.max_batch_size, 32);
  ASSERT_EQ(c.inputs.size(), 1u);
  EXPECT_EQ(c.inputs[0].name, "INPUT__0");
  EXPECT_EQ(c.inputs[0].datatype, DataType::kFp32);
  EXPECT_THAT(c.inputs[0].dims, ElementsAre(64));
  EXPECT_THAT(FullShape(c, c.inputs[0]), ElementsAre(-1, 64));
  EXPECT_TRUE(c.dynamic_batching_enabled);
  EXPECT_THAT(c.dynamic_batching.preferred_batch_sizes, ElementsAre(8, 16));
  EXPECT_EQ(c.dynamic_batching.max_queue_delay, std::chrono::microseconds(500));
  EXPECT_EQ(c.instance_count, 2);
  EXPECT_EQ(c.version_policy.latest_count, 2);
  EXPECT_EQ(c.parameters.at("INTRA_OP_THREAD_COUNT"), "1");
}

TEST(ModelConfigTest, UnhonouredFieldsAreWarnings) {
  std::string text = std::string(kMlp) + R"pb(
    optimization {
      execution_accelerators {
        cpu_execution_accelerator:
        [ { name: "openvino" }]
      }
    } model_warmup
    [ { name: "w" batch_size: 1 }]
    response_cache { enable: true }
  )pb";
  auto parsed = ParseModelConfig(text, "mlp");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->warnings.size(), 3u);
  EXPECT_THAT(parsed->warnings[0], HasSubstr("'optimization' is not honoured"));
  EXPECT_THAT(parsed->warnings[1], HasSubstr("'model_warmup'"));
  EXPECT_THAT(parsed->warnings[2], HasSubstr("'response_cache'"));
  // Nested unknown fields name their message.
  auto nested = ParseModelConfig(
      R"pb(backend: "xgboost" input
           [ {
             name: "x"
             data_type: TYPE_FP32
             dims: [ 4 ]
             reshape { shape: [ 2, 2 ] }
           }] output
           [ {
             name: "y"
             data_type: TYPE_FP32
             dims: [ 1 ]
           }])pb",
      "m");
  ASSERT_TRUE(nested.ok()) << nested.status();
  ASSERT_EQ(nested->warnings.size(), 1u);
  EXPECT_THAT(nested->warnings[0], HasSubstr("'reshape' (in ModelInput)"));
}

TEST(ModelConfigTest, UnsupportedPlatformOrBackendIsAnError) {
  auto tf = ParseModelConfig(
      R"pb(platform: "tensorflow_savedmodel" input
           [ { name: "x" data_type: TYPE_FP32 dims: 1 }] output
           [ { name: "y" data_type: TYPE_FP32 dims: 1 }])pb",
      "m");
  ASSERT_FALSE(tf.ok());
  EXPECT_EQ(tf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(tf.status().message(),
              HasSubstr("platform: 'tensorflow_savedmodel' is not supported"));
  auto onnx = ParseModelConfig(
      R"pb(backend: "onnxruntime" input
           [ { name: "x" data_type: TYPE_FP32 dims: 1 }] output
           [ { name: "y" data_type: TYPE_FP32 dims: 1 }])pb",
      "m");
  ASSERT_FALSE(onnx.ok());
  EXPECT_THAT(onnx.status().message(), HasSubstr("backend: 'onnxruntime' is not supported"));
  auto none = ParseModelConfig(R"pb(max_batch_size: 1)pb", "m");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("platform"));
}

TEST(ModelConfigTest, BadFieldsNameTheField) {
  struct Case {
    const char* text;
    const char* want;
  };
  const Case cases[] = {
      {R"pb(platform: "pytorch_libtorch" input
            [ { name: "x" dims: 1 }] output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }])pb",
       "input[0].data_type"},
      {R"pb(platform: "pytorch_libtorch" input
            [ { name: "x" data_type: TYPE_FP32 dims: 0 }] output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }])pb",
       "input[0].dims"},
      {R"pb(platform: "pytorch_libtorch" output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }])pb",
       "input: at least one"},
      {R"pb(platform: "pytorch_libtorch" input
            [ { name: "x" data_type: TYPE_FP32 dims: 1 }] output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }]
            dynamic_batching {})pb",
       "dynamic_batching: needs max_batch_size"},
      {R"pb(platform: "pytorch_libtorch"
            max_batch_size: 4 input
            [ { name: "x" data_type: TYPE_FP32 dims: 1 }] output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }]
            dynamic_batching { preferred_batch_size: 8 })pb",
       "preferred_batch_size: 8 must be between"},
      {R"pb(platform: "pytorch_libtorch" input
            [ { name: "x" data_type: TYPE_FP32 dims: 1 }] output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }] instance_group
            [ { kind: KIND_GPU }])pb",
       "instance_group[0].kind"},
      {R"pb(name: "other"
            platform: "pytorch_libtorch" input
            [ { name: "x" data_type: TYPE_FP32 dims: 1 }] output
            [ { name: "y" data_type: TYPE_FP32 dims: 1 }])pb",
       "name: 'other' differs"},
      {R"pb(platform: "pytorch_libtorch" max_batch_size: "x")pb", "config.pbtxt:1:"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseModelConfig(c.text, "m");
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.want)) << c.text;
  }
}

}  // namespace
}  // namespace berth::worker
