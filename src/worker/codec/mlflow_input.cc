#include "worker/codec/mlflow_input.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>

#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/codec/json_write.h"
#include "worker/codec/str.h"

namespace berth::worker {

namespace {

using codec_internal::Cat;
// Ordered, so that columns named by records or a columnar object keep the order the client gave
// when the model has no signature.
using ojson = nlohmann::ordered_json;

constexpr const char* kFormats[] = {"input_data", "dataframe_split", "dataframe_records",
                                    "instances", "inputs"};

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

// The FP32 matrix being filled, and the column names used in messages.
class Matrix {
 public:
  Matrix(std::vector<std::string> names, size_t features, size_t rows)
      : names_(std::move(names)), features_(features), values_(rows * features) {}

  absl::Status Put(const ojson& v, size_t row, size_t col) {
    float f;
    if (v.is_number()) {
      const double d = v.get<double>();
      if (std::fabs(d) >= 0x1.ffffffp127) {  // would round to infinity
        return Invalid(Cat(Where(row, col), v.dump(), " is out of range for FP32"));
      }
      f = static_cast<float>(d);
    } else if (v.is_boolean()) {
      f = v.get<bool>() ? 1.0f : 0.0f;
    } else if (v.is_null()) {
      f = std::numeric_limits<float>::quiet_NaN();  // missing value
    } else {
      return Invalid(Cat(Where(row, col), v.dump(-1, ' ', false, ojson::error_handler_t::replace),
                         " is not a number"));
    }
    values_[row * features_ + col] = f;
    return absl::OkStatus();
  }

  std::string Column(size_t col) const {
    return col < names_.size() ? Cat("'", names_[col], "'") : Cat(col);
  }

  Tensor Finish(const std::string& name) && {
    Tensor t;
    t.name = name;
    t.datatype = DataType::kFp32;
    t.shape = {static_cast<int64_t>(features_ == 0 ? 0 : values_.size() / features_),
               static_cast<int64_t>(features_)};
    t.data.resize(values_.size() * sizeof(float));
    std::memcpy(t.data.data(), values_.data(), t.data.size());
    return t;
  }

 private:
  std::string Where(size_t row, size_t col) const {
    return Cat("column ", Column(col), ", row ", row, ": ");
  }

  std::vector<std::string> names_;
  size_t features_;
  std::vector<float> values_;
};

absl::Status CheckFeatureCount(const MlflowInputSpec& spec, size_t features) {
  if (spec.num_features >= 0 && static_cast<int64_t>(features) != spec.num_features) {
    return Invalid(Cat("the model takes ", spec.num_features, " features, got ", features));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ColumnNames(const ojson& columns) {
  if (!columns.is_array()) return Invalid("'columns' must be a list of names");
  std::vector<std::string> names;
  for (const ojson& c : columns) {
    if (c.is_string()) {
      names.push_back(c.get<std::string>());
    } else if (c.is_number_integer()) {  // pandas writes integer column labels as numbers
      names.push_back(c.dump());
    } else {
      return Invalid("'columns' must be a list of names");
    }
  }
  return names;
}

// Rows of bare lists. `given` names their columns when the client sent them (split format).
absl::StatusOr<Tensor> FromListRows(const ojson& rows, const std::vector<std::string>* given,
                                    const MlflowInputSpec& spec) {
  if (!rows[0].is_array()) return Invalid("row 0 must be a list of values");
  std::vector<size_t> source;  // output column -> position in a row
  std::vector<std::string> names;
  size_t row_length;
  if (given != nullptr && !spec.columns.empty()) {
    std::unordered_map<std::string, size_t> position;
    for (size_t i = 0; i < given->size(); ++i) position.emplace((*given)[i], i);
    for (const std::string& c : spec.columns) {
      auto it = position.find(c);
      if (it == position.end()) return Invalid(Cat("missing column '", c, "'"));
      source.push_back(it->second);
    }
    names = spec.columns;
    row_length = given->size();
  } else {
    if (given != nullptr) {
      names = *given;
      row_length = given->size();
    } else if (spec.num_features >= 0) {
      row_length = static_cast<size_t>(spec.num_features);
    } else if (!spec.columns.empty()) {
      row_length = spec.columns.size();
    } else {
      row_length = rows[0].is_array() ? rows[0].size() : 0;
    }
    if (given == nullptr && spec.columns.size() == row_length) names = spec.columns;
    for (size_t i = 0; i < row_length; ++i) source.push_back(i);
  }
  RETURN_IF_ERROR(CheckFeatureCount(spec, source.size()));
  if (source.empty()) return Invalid("the input has no columns");

  Matrix m(std::move(names), source.size(), rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const ojson& row = rows[r];
    if (!row.is_array()) return Invalid(Cat("row ", r, " must be a list of values"));
    if (row.size() != row_length) {
      return Invalid(Cat("row ", r, " has ", row.size(), " values; expected ", row_length));
    }
    for (size_t c = 0; c < source.size(); ++c) RETURN_IF_ERROR(m.Put(row[source[c]], r, c));
  }
  return std::move(m).Finish(spec.tensor_name);
}

// The output columns for named input: the signature's, else the names in the order given.
std::vector<std::string> TargetColumns(const ojson& first_object, const MlflowInputSpec& spec) {
  if (!spec.columns.empty()) return spec.columns;
  std::vector<std::string> names;
  for (const auto& item : first_object.items()) names.push_back(item.key());
  return names;
}

// Rows of objects keyed by column (dataframe_records).
absl::StatusOr<Tensor> FromRecords(const ojson& rows, const MlflowInputSpec& spec) {
  if (!rows[0].is_object()) return Invalid("row 0 must be an object of column values");
  std::vector<std::string> names = TargetColumns(rows[0], spec);
  RETURN_IF_ERROR(CheckFeatureCount(spec, names.size()));
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < names.size(); ++i) index.emplace(names[i], i);

  const size_t features = names.size();
  Matrix m(names, features, rows.size());
  std::vector<char> seen(features);
  for (size_t r = 0; r < rows.size(); ++r) {
    const ojson& row = rows[r];
    if (!row.is_object()) return Invalid(Cat("row ", r, " must be an object of column values"));
    std::fill(seen.begin(), seen.end(), 0);
    size_t found = 0;
    for (const auto& item : row.items()) {
      auto it = index.find(item.key());
      if (it == index.end() || seen[it->second]) continue;  // not an input of the model
      seen[it->second] = 1;
      ++found;
      RETURN_IF_ERROR(m.Put(item.value(), r, it->second));
    }
    if (found != features) {
      for (size_t c = 0; c < features; ++c) {
        if (!seen[c]) return Invalid(Cat("missing column '", names[c], "' in row ", r));
      }
    }
  }
  return std::move(m).Finish(spec.tensor_name);
}

// {"col": [v, ...], ...}: one list per column.
absl::StatusOr<Tensor> FromColumns(const ojson& object, const MlflowInputSpec& spec) {
  std::vector<std::string> names = TargetColumns(object, spec);
  RETURN_IF_ERROR(CheckFeatureCount(spec, names.size()));
  if (names.empty()) return Invalid("the input has no columns");
  std::vector<const ojson*> columns;
  for (const std::string& n : names) {
    auto it = object.find(n);
    if (it == object.end()) return Invalid(Cat("missing column '", n, "'"));
    if (!it->is_array()) return Invalid(Cat("column '", n, "' must be a list of values"));
    columns.push_back(&*it);
  }
  const size_t rows = columns[0]->size();
  if (rows == 0) return Invalid("the input has no rows");
  Matrix m(names, names.size(), rows);
  for (size_t c = 0; c < columns.size(); ++c) {
    if (columns[c]->size() != rows) {
      return Invalid(Cat("column '", names[c], "' has ", columns[c]->size(), " values; column '",
                         names[0], "' has ", rows));
    }
    for (size_t r = 0; r < rows; ++r) RETURN_IF_ERROR(m.Put((*columns[c])[r], r, c));
  }
  return std::move(m).Finish(spec.tensor_name);
}

// A list of rows: bare lists or objects, told apart by the first row.
absl::StatusOr<Tensor> FromRowList(const ojson& rows, const MlflowInputSpec& spec) {
  if (rows.empty()) return Invalid("the input has no rows");
  if (rows[0].is_object()) return FromRecords(rows, spec);
  return FromListRows(rows, nullptr, spec);
}

// {"columns"?, "index"?, "data": [[...], ...]} (pandas' split orientation).
absl::StatusOr<Tensor> FromSplit(const ojson& split, const MlflowInputSpec& spec,
                                 std::string_view key) {
  auto data = split.find("data");
  if (data == split.end() || !data->is_array()) {
    return Invalid(Cat("'", key, "' needs 'data', a list of rows"));
  }
  if (data->empty()) return Invalid("the input has no rows");
  std::optional<std::vector<std::string>> given;
  if (auto columns = split.find("columns"); columns != split.end()) {
    ASSIGN_OR_RETURN(given, ColumnNames(*columns));
  }
  return FromListRows(*data, given ? &*given : nullptr, spec);
}

}  // namespace

absl::StatusOr<Tensor> DecodeMlflowInput(std::string_view body, const MlflowInputSpec& spec) {
  ojson root;
  try {
    root = ojson::parse(body.begin(), body.end());
  } catch (const ojson::exception& e) {
    std::string_view text = e.what();
    if (auto pos = text.find("] "); pos != std::string_view::npos && text.front() == '[') {
      text.remove_prefix(pos + 2);
    }
    return Invalid(Cat("malformed JSON: ", text));
  }
  if (!root.is_object()) return Invalid("the request body must be a JSON object");

  const char* format = nullptr;
  for (const char* key : kFormats) {
    if (!root.contains(key)) continue;
    if (format != nullptr) {
      return Invalid(Cat("the request has both '", format, "' and '", key, "'; send one"));
    }
    format = key;
  }
  if (format == nullptr) {
    return Invalid(
        "the request needs one of 'input_data', 'dataframe_split', 'dataframe_records', "
        "'instances' or 'inputs'");
  }
  const ojson& input = root[format];
  const std::string_view key = format;

  if (key == "dataframe_split") {
    if (!input.is_object()) return Invalid("'dataframe_split' must be an object with 'data'");
    return FromSplit(input, spec, key);
  }
  if (key == "dataframe_records") {
    if (!input.is_array()) return Invalid("'dataframe_records' must be a list of objects");
    if (input.empty()) return Invalid("the input has no rows");
    return FromRecords(input, spec);
  }
  if (input.is_array()) return FromRowList(input, spec);
  if (input.is_object()) {
    if (input.contains("data")) return FromSplit(input, spec, key);
    return FromColumns(input, spec);
  }
  return Invalid(Cat("'", key, "' must be a list of rows or an object"));
}

std::string EncodeMlflowPredictions(const Tensor& output) {
  std::string out;
  if (output.shape.empty()) {  // a scalar still answers a list
    out.push_back('[');
    json_out::AppendNestedData(output, &out);
    out.push_back(']');
    return out;
  }
  json_out::AppendNestedData(output, &out);
  return out;
}

}  // namespace berth::worker
