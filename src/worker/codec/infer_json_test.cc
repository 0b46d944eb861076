#include "worker/codec/infer_json.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace berth::worker {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

template <typename T>
std::string Raw(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  return out;
}

std::string Bytes(std::initializer_list<std::string_view> elements) {
  std::string out;
  for (auto e : elements) AppendBytesElement(e, &out);
  return out;
}

absl::StatusOr<DecodedInfer> DecodeJson(const json& j) {
  const std::string body = j.dump();
  return DecodeInferRequest(body, std::nullopt);
}

json Input(std::string name, std::string datatype, std::vector<int64_t> shape, json data) {
  return {{"name", name}, {"datatype", datatype}, {"shape", shape}, {"data", data}};
}

absl::Status DecodeError(const json& input) { return DecodeJson({{"inputs", {input}}}).status(); }

struct TypeCase {
  std::string datatype;
  json data;        // flat, 4 elements
  std::string raw;  // expected bytes
};

class DatatypeRoundTrip : public ::testing::TestWithParam<TypeCase> {};

TEST_P(DatatypeRoundTrip, DecodesAndEncodesBack) {
  const TypeCase& c = GetParam();
  auto decoded = DecodeJson({{"id", "r1"}, {"inputs", {Input("x", c.datatype, {2, 2}, c.data)}}});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->request.inputs.size(), 1u);
  const Tensor& t = decoded->request.inputs[0];
  EXPECT_EQ(t.name, "x");
  EXPECT_EQ(DataTypeName(t.datatype), c.datatype);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t.data, c.raw);
  EXPECT_EQ(decoded->request.id, "r1");

  // Nested data gives the same bytes.
  json nested =
      json::array({json::array({c.data[0], c.data[1]}), json::array({c.data[2], c.data[3]})});
  auto decoded_nested = DecodeJson({{"inputs", {Input("x", c.datatype, {2, 2}, nested)}}});
  ASSERT_TRUE(decoded_nested.ok()) << decoded_nested.status();
  EXPECT_EQ(decoded_nested->request.inputs[0].data, c.raw);

  InferResponse response{"m", "1", "r1", {t}};
  EncodedBody enc = EncodeInferResponse(response, *decoded);
  EXPECT_EQ(enc.content_type, "application/json");
  EXPECT_FALSE(enc.json_length.has_value());
  json out = json::parse(enc.body);
  EXPECT_EQ(out["model_name"], "m");
  EXPECT_EQ(out["model_version"], "1");
  EXPECT_EQ(out["id"], "r1");
  EXPECT_EQ(out["outputs"][0]["name"], "x");
  EXPECT_EQ(out["outputs"][0]["datatype"], c.datatype);
  EXPECT_EQ(out["outputs"][0]["shape"], json({2, 2}));
  // Decoding the answer's data again gives the same bytes.
  auto again =
      DecodeJson({{"inputs", {Input("x", c.datatype, {2, 2}, out["outputs"][0]["data"])}}});
  ASSERT_TRUE(again.ok()) << again.status() << " " << enc.body;
  EXPECT_EQ(again->request.inputs[0].data, c.raw);
}

INSTANTIATE_TEST_SUITE_P(
    AllJsonTypes, DatatypeRoundTrip,
    ::testing::Values(
        TypeCase{"BOOL", {true, false, false, true}, std::string("\1\0\0\1", 4)},
        TypeCase{"UINT8", {0, 1, 200, 255}, Raw<uint8_t>({0, 1, 200, 255})},
        TypeCase{"UINT16", {0, 1, 300, 65535}, Raw<uint16_t>({0, 1, 300, 65535})},
        TypeCase{"UINT32", {0, 1, 70000, 4294967295u}, Raw<uint32_t>({0, 1, 70000, 4294967295u})},
        TypeCase{"UINT64",
                 {0, 1, 70000, 18446744073709551615ull},
                 Raw<uint64_t>({0, 1, 70000, 18446744073709551615ull})},
        TypeCase{"INT8", {-128, -1, 0, 127}, Raw<int8_t>({-128, -1, 0, 127})},
        TypeCase{"INT16", {-32768, -1, 0, 32767}, Raw<int16_t>({-32768, -1, 0, 32767})},
        TypeCase{"INT32",
                 {-2147483648ll, -1, 0, 2147483647},
                 Raw<int32_t>({-2147483647 - 1, -1, 0, 2147483647})},
        TypeCase{"INT64",
                 {std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()},
                 Raw<int64_t>({std::numeric_limits<int64_t>::min(), -1, 0,
                               std::numeric_limits<int64_t>::max()})},
        TypeCase{"FP32",
                 {0.1, -2.5, 1e-38, 3.4028234663852886e38},
                 Raw<float>({0.1f, -2.5f, 1e-38f, 3.4028234663852886e38f})},
        TypeCase{"FP64",
                 {0.1, -2.5, 1e-300, 1.7976931348623157e308},
                 Raw<double>({0.1, -2.5, 1e-300, 1.7976931348623157e308})},
        TypeCase{"BYTES",
                 {"", "a", "h\xc3\xa9llo", "q\"\\\n"},
                 Bytes({"", "a", "h\xc3\xa9llo", "q\"\\\n"})}),
    [](const auto& info) { return info.param.datatype; });

TEST(InferJsonTest, Fp32OutputIsShortestRoundTrippingText) {
  Tensor t{"y", DataType::kFp32, {3}, Raw<float>({0.1f, 1.0f / 3.0f, 100.0f})};
  EncodedBody enc = EncodeInferResponse({"m", "1", "", {t}}, DecodedInfer{});
  EXPECT_THAT(enc.body, HasSubstr("\"data\":[0.1,0.33333334,100]"));
  EXPECT_THAT(enc.body, ::testing::Not(HasSubstr("\"id\"")));
}

TEST(InferJsonTest, NonFiniteFloatsAreNull) {
  Tensor t{
      "y", DataType::kFp64, {2}, Raw<double>({std::numeric_limits<double>::quiet_NaN(), INFINITY})};
  EncodedBody enc = EncodeInferResponse({"m", "1", "", {t}}, DecodedInfer{});
  EXPECT_THAT(enc.body, HasSubstr("\"data\":[null,null]"));
  EXPECT_NO_THROW(json::parse(enc.body));
}

TEST(InferJsonTest, ScalarAndEmptyTensors) {
  auto scalar = DecodeJson({{"inputs", {Input("x", "INT32", {}, 7)}}});
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->request.inputs[0].data, Raw<int32_t>({7}));
  auto empty = DecodeJson({{"inputs", {Input("x", "FP32", {0, 3}, json::array())}}});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->request.inputs[0].data, "");
}

TEST(InferJsonTest, IntegralFloatsAcceptedForIntegerTypes) {
  auto d = DecodeJson({{"inputs", {Input("x", "INT64", {2}, {2.0, -3.0})}}});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->request.inputs[0].data, Raw<int64_t>({2, -3}));
}

TEST(InferJsonTest, RequestedOutputsAndBinaryFlags) {
  json req = {{"inputs", {Input("x", "FP32", {1}, {1.0})}},
              {"parameters", {{"binary_data_output", true}}},
              {"outputs",
               {{{"name", "a"}, {"parameters", {{"binary_data", false}}}},
                {{"name", "b"}, {"parameters", {{"classification", 2}}}}}}};
  auto d = DecodeJson(req);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->request.requested_outputs, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(d->binary_output_default);
  EXPECT_EQ(d->output_binary.at("a"), false);
  EXPECT_EQ(d->output_binary.count("b"), 0u);
  EXPECT_EQ(d->output_classification.at("b"), 2);
}

TEST(InferJsonTest, BinaryInputsRoundTrip) {
  const std::string fp16 = Raw<uint16_t>({0x3C00, 0xC000});  // 1.0, -2.0
  const std::string fp32 = Raw<float>({1.5f, 2.5f, 3.5f});
  const std::string bytes = Bytes({"ab", ""});
  json header = {{"inputs",
                  {{{"name", "h"},
                    {"datatype", "FP16"},
                    {"shape", {2}},
                    {"parameters", {{"binary_data_size", fp16.size()}}}},
                   Input("j", "INT32", {1}, {5}),
                   {{"name", "f"},
                    {"datatype", "FP32"},
                    {"shape", {1, 3}},
                    {"parameters", {{"binary_data_size", fp32.size()}}}},
                   {{"name", "s"},
                    {"datatype", "BYTES"},
                    {"shape", {2}},
                    {"parameters", {{"binary_data_size", bytes.size()}}}}}}};
  const std::string json_text = header.dump();
  const std::string body = json_text + fp16 + fp32 + bytes;
  auto d = DecodeInferRequest(body, json_text.size());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->request.inputs.size(), 4u);
  EXPECT_EQ(d->request.inputs[0].data, fp16);
  EXPECT_EQ(d->request.inputs[0].datatype, DataType::kFp16);
  EXPECT_EQ(d->request.inputs[1].data, Raw<int32_t>({5}));
  EXPECT_EQ(d->request.inputs[2].data, fp32);
  EXPECT_EQ(d->request.inputs[3].data, bytes);

  // Asked binary by default: every output follows the JSON header, in order.
  DecodedInfer asked;
  asked.binary_output_default = true;
  InferResponse response{"m", "2", "", d->request.inputs};
  EncodedBody enc = EncodeInferResponse(response, asked);
  EXPECT_EQ(enc.content_type, "application/octet-stream");
  ASSERT_TRUE(enc.json_length.has_value());
  json out = json::parse(enc.body.substr(0, *enc.json_length));
  EXPECT_EQ(out["outputs"][0]["parameters"]["binary_data_size"], fp16.size());
  EXPECT_FALSE(out["outputs"][0].contains("data"));
  EXPECT_EQ(enc.body.substr(*enc.json_length), fp16 + Raw<int32_t>({5}) + fp32 + bytes);

  // The response's output objects read back as binary inputs of a request.
  const std::string again_json = json({{"inputs", out["outputs"]}}).dump();
  const std::string again_body = again_json + enc.body.substr(*enc.json_length);
  auto again = DecodeInferRequest(again_body, again_json.size());
  ASSERT_TRUE(again.ok()) << again.status();
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(again->request.inputs[i].data, d->request.inputs[i].data) << i;
  }
}

TEST(InferJsonTest, PerOutputBinaryAndHalfAlwaysBinary) {
  Tensor a{"a", DataType::kFp32, {1}, Raw<float>({1.0f})};
  Tensor b{"b", DataType::kInt64, {2}, Raw<int64_t>({3, 4})};
  Tensor h{"h", DataType::kFp16, {1}, Raw<uint16_t>({0x3C00})};
  DecodedInfer asked;
  asked.output_binary["b"] = true;
  EncodedBody enc = EncodeInferResponse({"m", "1", "id7", {a, b, h}}, asked);
  ASSERT_TRUE(enc.json_length.has_value());
  json out = json::parse(enc.body.substr(0, *enc.json_length));
  EXPECT_EQ(out["id"], "id7");
  EXPECT_EQ(out["outputs"][0]["data"], json({1.0}));
  EXPECT_EQ(out["outputs"][1]["parameters"]["binary_data_size"], 16);
  EXPECT_EQ(out["outputs"][2]["parameters"]["binary_data_size"], 2);
  EXPECT_EQ(enc.body.substr(*enc.json_length), b.data + h.data);
}

TEST(InferJsonTest, NegativeElementChecks) {
  EXPECT_THAT(DecodeError(Input("x", "UINT8", {2}, {1, 300})).ToString(),
              HasSubstr("input 'x': element 1 (300) is out of range for UINT8"));
  EXPECT_THAT(DecodeError(Input("x", "UINT8", {1}, {-1})).ToString(),
              HasSubstr("out of range for UINT8"));
  EXPECT_THAT(DecodeError(Input("x", "INT8", {1}, {128})).ToString(),
              HasSubstr("out of range for INT8"));
  EXPECT_THAT(DecodeError(Input("x", "UINT64", {1}, {-5})).ToString(),
              HasSubstr("out of range for UINT64"));
  EXPECT_THAT(DecodeError(Input("x", "INT32", {1}, {1.5})).ToString(),
              HasSubstr("is not an integer"));
  EXPECT_THAT(DecodeError(Input("x", "BOOL", {1}, {1})).ToString(),
              HasSubstr("input 'x': element 0 is a number; BOOL needs true or false"));
  EXPECT_THAT(DecodeError(Input("x", "FP32", {1}, {"1.0"})).ToString(),
              HasSubstr("is a string; FP32 needs a number"));
  EXPECT_THAT(DecodeError(Input("x", "FP32", {1}, {1e39})).ToString(),
              HasSubstr("out of range for FP32"));
  EXPECT_THAT(DecodeError(Input("x", "FP32", {1}, {3.4028235677973366e+38})).ToString(),
              HasSubstr("out of range for FP32"));  // FLT_MAX + half an ulp rounds to inf
  EXPECT_THAT(DecodeError(Input("x", "BYTES", {1}, {1})).ToString(),
              HasSubstr("BYTES needs a string"));
  EXPECT_THAT(DecodeError(Input("x", "FP16", {1}, {1.0})).ToString(),
              HasSubstr("FP16 cannot be sent as JSON data"));
  absl::Status s = DecodeError(Input("x", "FP32", {2, 3}, {1, 2, 3, 4, 5}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "input 'x': shape [2,3] needs 6 elements, got 5");
  EXPECT_THAT(DecodeError(Input("x", "FP32", {2}, {{1, 2}, {3}})).ToString(),
              HasSubstr("needs 2 elements, got 3"));
  EXPECT_THAT(DecodeError(Input("x", "FP32", {-1}, {1})).ToString(), HasSubstr("non-negative"));
}

TEST(InferJsonTest, NegativeRequestShape) {
  absl::Status s = DecodeInferRequest("{\"inputs\": [", std::nullopt).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.ToString(), ::testing::StartsWith("INVALID_ARGUMENT: malformed JSON: "));
  EXPECT_THAT(DecodeError(Input("x", "FLOAT32", {1}, {1})).ToString(),
              HasSubstr("input 'x': unknown datatype 'FLOAT32'"));
  EXPECT_THAT(DecodeJson({{"id", 3}, {"inputs", json::array()}}).status().ToString(),
              HasSubstr("'id' must be a string"));
  EXPECT_THAT(DecodeJson(json::array()).status().ToString(), HasSubstr("JSON object"));
  EXPECT_THAT(DecodeJson({{"x", 1}}).status().ToString(), HasSubstr("'inputs'"));
  json no_data = {{"name", "x"}, {"datatype", "FP32"}, {"shape", {1}}};
  EXPECT_THAT(DecodeError(no_data).ToString(), HasSubstr("needs 'data'"));
}

class BinaryNegative : public ::testing::Test {
 protected:
  std::string Header(int64_t size, std::string datatype = "FP32",
                     std::vector<int64_t> shape = {2}) {
    return json({{"inputs",
                  {{{"name", "x"},
                    {"datatype", datatype},
                    {"shape", shape},
                    {"parameters", {{"binary_data_size", size}}}}}}})
        .dump();
  }
};

TEST_F(BinaryNegative, HeaderLengthPastBody) {
  std::string h = Header(8);
  absl::Status s = DecodeInferRequest(h, h.size() + 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.ToString(), HasSubstr("Inference-Header-Content-Length"));
  EXPECT_THAT(s.ToString(), HasSubstr("larger than the body"));
}

TEST_F(BinaryNegative, SizePastEnd) {
  std::string h = Header(8);
  absl::Status s = DecodeInferRequest(h + "1234", h.size()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.ToString(), HasSubstr("input 'x': binary_data_size 8 runs past the end"));
}

TEST_F(BinaryNegative, LeftoverBytes) {
  std::string h = Header(8);
  absl::Status s = DecodeInferRequest(h + "12345678xy", h.size()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.ToString(), HasSubstr("2 bytes follow the last binary input"));
}

TEST_F(BinaryNegative, SizeDisagreesWithShape) {
  std::string h = Header(4);
  absl::Status s = DecodeInferRequest(h + "1234", h.size()).status();
  EXPECT_THAT(
      s.ToString(),
      HasSubstr("input 'x': binary_data_size 4 does not match shape [2] of FP32 (8 bytes)"));
}

TEST_F(BinaryNegative, BadBytesPrefixes) {
  std::string h = Header(6, "BYTES", {2});
  std::string data = Bytes({"ab"});  // 6 bytes, one element
  absl::Status s = DecodeInferRequest(h + data, h.size()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.ToString(), HasSubstr("input 'x': binary data"));
}

TEST_F(BinaryNegative, BinaryWithoutHeaderLength) {
  std::string h = Header(8);
  EXPECT_THAT(DecodeInferRequest(h, std::nullopt).status().ToString(),
              HasSubstr("no Inference-Header-Content-Length"));
}

TEST(InferJsonTest, JsonLengthWithoutBinaryInputsIsFine) {
  std::string h = json({{"inputs", {Input("x", "INT32", {1}, {1})}}}).dump();
  EXPECT_TRUE(DecodeInferRequest(h, h.size()).ok());
}

TEST(InferJsonTest, MetadataJson) {
  json server = json::parse(ServerMetadataJson({"berth-worker", "0.1.0", {"binary_tensor_data"}}));
  EXPECT_EQ(server["extensions"], json({"binary_tensor_data"}));
  ModelMetadata mm{"m",
                   {"2", "1"},
                   "pytorch_libtorch",
                   {{"x", DataType::kFp32, {-1, 4}}},
                   {{"y", DataType::kInt64, {-1}}}};
  json model = json::parse(ModelMetadataJson(mm));
  EXPECT_EQ(model["name"], "m");
  EXPECT_EQ(model["versions"], json({"2", "1"}));
  EXPECT_EQ(model["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(model["inputs"][0]["shape"], json({-1, 4}));
  EXPECT_EQ(model["outputs"][0]["datatype"], "INT64");
}

TEST(InferJsonTest, NonUtf8BytesOutputStaysValidJson) {
  Tensor t{"s", DataType::kBytes, {1}, Bytes({"\xff\x01ok"})};
  EncodedBody enc = EncodeInferResponse({"m", "1", "", {t}}, DecodedInfer{});
  json out = json::parse(enc.body);
  EXPECT_EQ(out["outputs"][0]["data"][0], "\xc3\xbf\x01ok");  // U+00FF, U+0001
}

}  // namespace
}  // namespace berth::worker
