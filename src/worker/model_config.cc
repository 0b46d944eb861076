#include "worker/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/model_config.pb.h"

namespace berth::worker {

namespace {

namespace pb = google::protobuf;

// Collects the parser's complaints: errors fail the parse; warnings are the fields berth does
// not honour, which the parser skips because unknown fields are allowed.
class Collector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (error.empty())
      error = absl::StrCat("config.pbtxt:", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int line, pb::io::ColumnNumber column, const std::string& message) override {
    warnings.push_back(absl::StrCat("config.pbtxt:", line + 1, ": ", Explain(message)));
  }
  std::string error;
  std::vector<std::string> warnings;

 private:
  // 'Message type "berth.worker.config.ModelConfig" has no field named "optimization".'
  static std::string Explain(const std::string& message) {
    auto named = message.find("has no field named \"");
    if (named == std::string::npos) return message;
    auto start = named + std::string("has no field named \"").size();
    auto end = message.find('"', start);
    std::string field = message.substr(start, end - start);
    std::string where;
    if (auto type = message.find("berth.worker.config."); type != std::string::npos) {
      auto type_end = message.find('"', type);
      std::string type_name = message.substr(type + 20, type_end - type - 20);
      if (type_name != "ModelConfig") where = " (in " + type_name + ")";
    }
    return "field '" + field + "'" + where + " is not honoured by berth-worker and is ignored";
  }
};

absl::Status Invalid(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError("config.pbtxt: " + field + ": " + message);
}

absl::StatusOr<TensorConfig> ReadTensor(const std::string& kind, int index, const std::string& name,
                                        config::DataType type,
                                        const pb::RepeatedField<int64_t>& dims) {
  std::string field = absl::StrCat(kind, "[", index, "]");
  if (name.empty()) return Invalid(field, "name is required");
  TensorConfig t;
  t.name = name;
  auto datatype = DataTypeFromConfigName(config::DataType_Name(type));
  if (type == config::TYPE_INVALID || !datatype) {
    return Invalid(field + ".data_type", "required (e.g. TYPE_FP32) for '" + name + "'");
  }
  t.datatype = *datatype;
  for (int64_t d : dims) {
    if (d == 0 || d < -1) {
      return Invalid(field + ".dims", absl::StrCat("dimension ", d, " of '", name,
                                                   "' must be positive or -1 (variable)"));
    }
    t.dims.push_back(d);
  }
  return t;
}

// Which berth backend serves the model, from platform or backend as Triton spells them.
absl::StatusOr<std::string> ResolveBackend(const config::ModelConfig& pb) {
  static const std::set<std::string> kPlatforms = {"pytorch_libtorch"};
  static const std::set<std::string> kBackends = {"pytorch", "xgboost", "fake"};
  if (!pb.platform().empty() && !kPlatforms.contains(pb.platform())) {
    return Invalid("platform", "'" + pb.platform() +
                                   "' is not supported; berth-worker serves platform "
                                   "pytorch_libtorch and backend xgboost");
  }
  if (!pb.backend().empty()) {
    if (!kBackends.contains(pb.backend())) {
      return Invalid("backend", "'" + pb.backend() +
                                    "' is not supported; berth-worker serves backend pytorch "
                                    "(platform pytorch_libtorch) and backend xgboost");
    }
    if (!pb.platform().empty() && pb.backend() != "pytorch") {
      return Invalid("backend",
                     "'" + pb.backend() + "' does not serve platform '" + pb.platform() + "'");
    }
    return pb.backend();
  }
  if (pb.platform().empty()) {
    return Invalid("platform", "give platform (pytorch_libtorch) or backend (xgboost)");
  }
  return std::string("pytorch");
}

// Rewrites `name [` as `name: [`. Both are valid text format, but protobuf 3.21 can skip an
// unknown field's list only in the second form, and Triton's examples use the first
// (`instance_group [ ... ]`, `model_warmup [ ... ]`). Strings and comments are left alone.
std::string NormalizeListSyntax(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  size_t i = 0;
  auto is_ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < text.size()) {
    char c = text[i];
    if (c == '#') {
      size_t end = text.find('\n', i);
      if (end == std::string_view::npos) end = text.size();
      out.append(text.substr(i, end - i));
      i = end;
    } else if (c == '"' || c == '\'') {
      size_t j = i + 1;
      while (j < text.size() && text[j] != c) j += text[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, text.size());
      out.append(text.substr(i, j - i));
      i = j;
    } else if (is_ident(c)) {
      size_t j = i;
      while (j < text.size() && is_ident(text[j])) ++j;
      out.append(text.substr(i, j - i));
      size_t k = j;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      if (k < text.size() && text[k] == '[' && !std::isdigit(static_cast<unsigned char>(text[i]))) {
        out.push_back(':');
      }
      i = j;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<ParsedModelConfig> ParseModelConfig(std::string_view text,
                                                   std::string_view model_name) {
  config::ModelConfig pb;
  Collector collector;
  pb::TextFormat::Parser parser;
  parser.RecordErrorsTo(&collector);
  parser.AllowUnknownField(true);
  parser.AllowUnknownExtension(true);
  if (!parser.ParseFromString(NormalizeListSyntax(text), &pb)) {
    return absl::InvalidArgumentError(collector.error.empty() ? "config.pbtxt: cannot parse"
                                                              : collector.error);
  }
  ParsedModelConfig out;
  out.warnings = std::move(collector.warnings);
  ModelConfig& c = out.config;
  c.name = std::string(model_name);
  if (!pb.name().empty() && pb.name() != model_name) {
    return Invalid("name", "'" + pb.name() + "' differs from the model's folder name '" +
                               std::string(model_name) + "'");
  }
  c.platform = pb.platform();
  auto backend = ResolveBackend(pb);
  if (!backend.ok()) return backend.status();
  c.backend = *backend;
  if (c.platform.empty() && c.backend == "pytorch") c.platform = "pytorch_libtorch";
  if (c.platform.empty()) c.platform = c.backend;
  if (pb.max_batch_size() < 0) return Invalid("max_batch_size", "must be >= 0");
  c.max_batch_size = pb.max_batch_size();

  std::set<std::string> names;
  for (int i = 0; i < pb.input_size(); ++i) {
    const auto& in = pb.input(i);
    auto t = ReadTensor("input", i, in.name(), in.data_type(), in.dims());
    if (!t.ok()) return t.status();
    if (!names.insert("in:" + t->name).second) {
      return Invalid(absl::StrCat("input[", i, "]"), "duplicate input '" + t->name + "'");
    }
    if (in.format() != config::ModelInput::FORMAT_NONE) {
      out.warnings.push_back("config.pbtxt: input '" + t->name +
                             "': format is informational and not honoured");
    }
    if (in.optional()) {
      return Invalid(absl::StrCat("input[", i, "].optional"),
                     "optional inputs are not supported; every input is required");
    }
    c.inputs.push_back(*std::move(t));
  }
  for (int i = 0; i < pb.output_size(); ++i) {
    const auto& o = pb.output(i);
    auto t = ReadTensor("output", i, o.name(), o.data_type(), o.dims());
    if (!t.ok()) return t.status();
    if (!names.insert("out:" + t->name).second) {
      return Invalid(absl::StrCat("output[", i, "]"), "duplicate output '" + t->name + "'");
    }
    if (!o.label_filename().empty()) {
      out.warnings.push_back("config.pbtxt: output '" + t->name +
                             "': label_filename is not honoured (no classification extension)");
    }
    c.outputs.push_back(*std::move(t));
  }
  if (c.inputs.empty()) return Invalid("input", "at least one input is required");
  if (c.outputs.empty()) return Invalid("output", "at least one output is required");

  if (pb.has_dynamic_batching()) {
    const auto& db = pb.dynamic_batching();
    if (c.max_batch_size == 0) {
      return Invalid("dynamic_batching", "needs max_batch_size > 0");
    }
    c.dynamic_batching_enabled = true;
    for (int size : db.preferred_batch_size()) {
      if (size < 1 || size > c.max_batch_size) {
        return Invalid(
            "dynamic_batching.preferred_batch_size",
            absl::StrCat(size, " must be between 1 and max_batch_size (", c.max_batch_size, ")"));
      }
      c.dynamic_batching.preferred_batch_sizes.push_back(size);
    }
    std::sort(c.dynamic_batching.preferred_batch_sizes.begin(),
              c.dynamic_batching.preferred_batch_sizes.end());
    c.dynamic_batching.max_queue_delay =
        std::chrono::microseconds(db.max_queue_delay_microseconds());
    if (db.preserve_ordering()) {
      out.warnings.push_back(
          "config.pbtxt: dynamic_batching.preserve_ordering is not honoured (responses are "
          "sent as each request completes)");
    }
  }

  if (pb.instance_group_size() > 0) {
    int count = 0;
    for (int i = 0; i < pb.instance_group_size(); ++i) {
      const auto& g = pb.instance_group(i);
      if (g.kind() == config::ModelInstanceGroup::KIND_GPU || g.gpus_size() > 0) {
        return Invalid(absl::StrCat("instance_group[", i, "].kind"),
                       "KIND_GPU is not supported; berth-worker runs models on CPU (KIND_CPU)");
      }
      if (g.count() < 0) {
        return Invalid(absl::StrCat("instance_group[", i, "].count"), "must be >= 1");
      }
      count += g.count() == 0 ? 1 : g.count();
    }
    c.instance_count = count;
  }

  if (pb.has_version_policy()) {
    const auto& vp = pb.version_policy();
    if (vp.has_all()) {
      c.version_policy.kind = VersionPolicy::Kind::kAll;
    } else if (vp.has_specific()) {
      c.version_policy.kind = VersionPolicy::Kind::kSpecific;
      for (int64_t v : vp.specific().versions()) {
        if (v < 1) {
          return Invalid("version_policy.specific.versions",
                         absl::StrCat(v, " is not a version (versions are folders 1, 2, ...)"));
        }
        c.version_policy.versions.push_back(v);
      }
      if (c.version_policy.versions.empty()) {
        return Invalid("version_policy.specific.versions", "list at least one version");
      }
    } else if (vp.has_latest()) {
      c.version_policy.latest_count =
          vp.latest().num_versions() == 0 ? 1 : static_cast<int>(vp.latest().num_versions());
    }
  }
  c.default_model_filename = pb.default_model_filename();
  for (const auto& [key, value] : pb.parameters()) c.parameters[key] = value.string_value();
  return out;
}

std::vector<int64_t> FullShape(const ModelConfig& config, const TensorConfig& tensor) {
  std::vector<int64_t> shape;
  if (config.max_batch_size > 0) shape.push_back(-1);
  shape.insert(shape.end(), tensor.dims.begin(), tensor.dims.end());
  return shape;
}

}  // namespace berth::worker
