#pragma once
// The Open Inference Protocol's REST bodies (peers-and-open-inference-protocol.md §4.2), with
// Triton's binary_tensor_data extension (§5): the JSON header may be followed by raw tensor bytes,
// its length given by the Inference-Header-Content-Length header.
//
// Decoding is strict: every mismatch between the header, the shapes and the bytes is
// INVALID_ARGUMENT with a message naming the input; the REST layer answers 400 {"error": msg}.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "worker/backend.h"
#include "worker/inference_service.h"

namespace berth::worker {

struct DecodedInfer {
  InferRequest request;                       // inputs with raw little-endian bytes (tensor.h)
  std::map<std::string, bool> output_binary;  // per requested output: parameters.binary_data
  bool binary_output_default = false;         // request-level parameters.binary_data_output
  std::map<std::string, int64_t> output_classification;  // parameters.classification (unused)
};

// `body` is the whole HTTP body; `json_length` the Inference-Header-Content-Length header, absent
// when the body is JSON only. The returned inputs own copies of their bytes; `body` may go away.
absl::StatusOr<DecodedInfer> DecodeInferRequest(std::string_view body,
                                                std::optional<size_t> json_length);

struct EncodedBody {
  std::string body;
  std::optional<size_t> json_length;  // set when binary outputs follow the JSON header
  std::string content_type;           // application/json, or application/octet-stream
};

// Outputs go as JSON data (flat, row-major) unless `asked` wants them binary, per output or by
// default; FP16 and BF16, which JSON cannot carry, are always binary.
EncodedBody EncodeInferResponse(const InferResponse& response, const DecodedInfer& asked);

// OIP's error body is http::OipErrorJson (http/errors.h), the one mapping per protocol.
std::string ServerMetadataJson(const ServerMetadata& metadata);
std::string ModelMetadataJson(const ModelMetadata& metadata);

}  // namespace berth::worker
