#pragma once
// Conversions between the Open Inference Protocol's gRPC messages and berth-worker's own types.
// Raw contents map to Tensor::data unchanged (the byte layouts are the same); typed contents are
// converted element by element to that layout and back.

#include "absl/status/statusor.h"
#include "oip/grpc_service.pb.h"
#include "worker/backend.h"
#include "worker/inference_service.h"

namespace berth::worker::grpc_api {

struct DecodedInferRequest {
  InferRequest request;
  bool raw = false;  // inputs came in raw_input_contents: answer with raw_output_contents
};

// INVALID_ARGUMENT naming the input for an unknown datatype, a negative dimension, raw and
// typed contents mixed, a raw buffer count that differs from the inputs, typed contents in the
// wrong field or with the wrong element count, a value out of range for INT8/16 or UINT8/16,
// or FP16/BF16 sent typed (they have no typed field).
absl::StatusOr<DecodedInferRequest> DecodeInferRequest(const inference::ModelInferRequest& msg);

// Fills `out` from `response`: raw_output_contents when `raw` (or when an output is FP16/BF16,
// which cannot travel typed), else typed contents. INTERNAL when an output's data does not fit
// its shape.
absl::Status EncodeInferResponse(InferResponse response, bool raw,
                                 inference::ModelInferResponse* out);

void EncodeModelMetadata(const ModelMetadata& metadata, inference::ModelMetadataResponse* out);

}  // namespace berth::worker::grpc_api
