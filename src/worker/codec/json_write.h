#pragma once
// Hand-written JSON output for the codec's hot paths: tensors are written straight into the
// response body with std::to_chars, without a JSON document in between and without a heap
// allocation per element.

#include <cstdint>
#include <string>
#include <string_view>

#include "worker/tensor.h"

namespace berth::worker::json_out {

// Appends `text` as a JSON string literal (quotes included). Valid UTF-8 passes through; a byte
// that is not part of valid UTF-8 is written as the code point of the same value (\u00XX), so
// any BYTES element yields valid JSON.
void AppendJsonString(std::string_view text, std::string* out);

// Appends the elements of `tensor` as a flat JSON list ("[1,2,3]"), row-major. Floats are the
// shortest text that reads back to the same value; NaN and infinities, which JSON cannot
// express, are written as null. BYTES elements are strings. Requires CheckTensorSize(tensor).
void AppendFlatData(const Tensor& tensor, std::string* out);

// Appends the elements nested by `tensor.shape` ("[[1,2],[3,4]]"); a scalar is one value.
void AppendNestedData(const Tensor& tensor, std::string* out);

}  // namespace berth::worker::json_out
