#include "core/json_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/model_asset.h"
#include "core/spec_json.h"

namespace berth::core::internal {
namespace {

using nlohmann::json;

constexpr size_t kMaxQuotedLength = 60;

bool IsDigest(const std::string& digest) {
  static const std::regex kDigest("sha256:[0-9a-f]{64}");
  return std::regex_match(digest, kDigest);
}

bool Contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

absl::Status RangeError(std::string_view path, int min, int max, const std::string& got) {
  if (max == std::numeric_limits<int>::max()) {
    return InvalidField(path, absl::StrCat("must be at least ", min, ", got ", got));
  }
  return InvalidField(path, absl::StrCat("must be between ", min, " and ", max, ", got ", got));
}

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(absl::string_view(parent.data(), parent.size()), ".",
                      absl::string_view(key.data(), key.size()));
}

std::string DescribeValue(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return absl::StrCat("boolean ", value.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return absl::StrCat("integer ", value.dump());
    case json::value_t::number_float:
      return absl::StrCat("number ", value.dump());
    case json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      if (text.size() <= kMaxQuotedLength) return absl::StrCat("string ", value.dump());
      return absl::StrCat("string ", json(text.substr(0, kMaxQuotedLength)).dump(), "...");
    }
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "a list";
    default:
      return "binary data";
  }
}

absl::Status TypeError(std::string_view path, std::string_view expected, const json& got) {
  return InvalidField(
      path, absl::StrCat("expected ", absl::string_view(expected.data(), expected.size()), ", got ",
                         DescribeValue(got)));
}

absl::StatusOr<std::string> ScalarToString(const json& value, std::string_view path) {
  switch (value.type()) {
    case json::value_t::null:
      return std::string();
    case json::value_t::string:
      return value.get<std::string>();
    case json::value_t::boolean:
      return std::string(value.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return value.dump();
    default:
      return TypeError(path, "a string, number or boolean", value);
  }
}

absl::StatusOr<int> IntFromJson(const json& value, std::string_view path, int min, int max) {
  int64_t number = 0;
  if (value.is_number_unsigned()) {
    uint64_t unsigned_number = value.get<uint64_t>();
    if (unsigned_number > static_cast<uint64_t>(max)) {
      return RangeError(path, min, max, value.dump());
    }
    number = static_cast<int64_t>(unsigned_number);
  } else if (value.is_number_integer()) {
    number = value.get<int64_t>();
  } else if (value.is_number_float()) {
    // YAML `5.0` is a float, but it still names a whole number.
    double real = value.get<double>();
    if (!std::isfinite(real) || std::trunc(real) != real) {
      return TypeError(path, "an integer", value);
    }
    if (real < static_cast<double>(min) || real > static_cast<double>(max)) {
      return RangeError(path, min, max, value.dump());
    }
    number = static_cast<int64_t>(real);
  } else {
    return TypeError(path, "an integer", value);
  }
  if (number < min || number > max) return RangeError(path, min, max, value.dump());
  return static_cast<int>(number);
}

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

absl::StatusOr<ObjectView> ObjectView::Open(const json& value, std::string path,
                                            const std::vector<std::string>& known,
                                            const std::vector<std::string>& ignored) {
  if (!value.is_object()) return TypeError(path, "an object", value);
  for (const auto& [key, unused] : value.items()) {
    if (Contains(known, key) || Contains(ignored, key)) continue;
    std::string message = absl::StrCat("unknown field '", key, "'");
    std::string suggestion = ClosestMatch(key, known);
    if (!suggestion.empty()) absl::StrAppend(&message, "; did you mean '", suggestion, "'?");
    return InvalidField(JoinPath(path, key), message);
  }
  return ObjectView(&value, std::move(path));
}

bool ObjectView::Has(const std::string& key) const {
  auto it = object_->find(key);
  return it != object_->end() && !it->is_null();
}

const json& ObjectView::Get(const std::string& key) const { return object_->at(key); }

absl::Status ObjectView::ReadString(const std::string& key, std::string* out) const {
  if (!Has(key)) return absl::OkStatus();
  const json& value = Get(key);
  if (!value.is_string()) return TypeError(PathOf(key), "a string", value);
  *out = value.get<std::string>();
  return absl::OkStatus();
}

absl::Status ObjectView::ReadNonEmptyString(const std::string& key, std::string* out) const {
  if (!Has(key)) return absl::OkStatus();
  const json& value = Get(key);
  if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
    return TypeError(PathOf(key), "a non-empty string", value);
  }
  *out = value.get<std::string>();
  return absl::OkStatus();
}

absl::Status ObjectView::ReadBool(const std::string& key, bool* out) const {
  if (!Has(key)) return absl::OkStatus();
  const json& value = Get(key);
  if (!value.is_boolean()) return TypeError(PathOf(key), "a boolean (true or false)", value);
  *out = value.get<bool>();
  return absl::OkStatus();
}

absl::Status ObjectView::ReadInt(const std::string& key, int min, int max, int* out) const {
  if (!Has(key)) return absl::OkStatus();
  auto number = IntFromJson(Get(key), PathOf(key), min, max);
  if (!number.ok()) return number.status();
  *out = *number;
  return absl::OkStatus();
}

absl::Status ObjectView::ReadStringMap(const std::string& key,
                                       std::map<std::string, std::string>* out) const {
  if (!Has(key)) return absl::OkStatus();
  const json& value = Get(key);
  if (!value.is_object()) return TypeError(PathOf(key), "an object of names to values", value);
  std::map<std::string, std::string> result;
  for (const auto& [name, item] : value.items()) {
    auto text = ScalarToString(item, JoinPath(PathOf(key), name));
    if (!text.ok()) return text.status();
    result[name] = *std::move(text);
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status ObjectView::ReadChoice(const std::string& key, const std::vector<std::string>& choices,
                                    std::string* out) const {
  if (!Has(key)) return absl::OkStatus();
  const json& value = Get(key);
  std::vector<std::string> quoted;
  for (const std::string& choice : choices) quoted.push_back(absl::StrCat("'", choice, "'"));
  const std::string expected = absl::StrCat("one of ", absl::StrJoin(quoted, ", "));
  if (!value.is_string()) return TypeError(PathOf(key), expected, value);
  std::string lower = AsciiLower(value.get_ref<const std::string&>());
  if (!Contains(choices, lower)) return TypeError(PathOf(key), expected, value);
  *out = lower;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ObjectView>> ObjectView::ReadObject(
    const std::string& key, const std::vector<std::string>& known,
    const std::vector<std::string>& ignored) const {
  if (!Has(key)) return std::optional<ObjectView>();
  auto view = Open(Get(key), PathOf(key), known, ignored);
  if (!view.ok()) return view.status();
  return std::optional<ObjectView>(*std::move(view));
}

absl::Status ReadVersion(const ObjectView& view, std::string* out) {
  if (!view.Has("version")) return absl::OkStatus();
  const json& value = view.Get("version");
  if (!value.is_number() && !(value.is_string() && !value.get<std::string>().empty())) {
    return TypeError(view.PathOf("version"), "a version (a string or a number)", value);
  }
  ASSIGN_OR_RETURN(*out, ScalarToString(value, view.PathOf("version")));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ArtifactRef>> ReadArtifact(const ObjectView& parent) {
  ASSIGN_OR_RETURN(auto view, parent.ReadObject("artifact", {"digest", "base_name", "is_file"}));
  if (!view.has_value()) return std::optional<ArtifactRef>();
  ArtifactRef artifact;
  if (!view->Has("digest")) {
    return InvalidField(view->PathOf("digest"), "required field is missing");
  }
  RETURN_IF_ERROR(view->ReadString("digest", &artifact.digest));
  if (!IsDigest(artifact.digest)) {
    return TypeError(view->PathOf("digest"), "'sha256:' followed by 64 lowercase hex digits",
                     view->Get("digest"));
  }
  if (!view->Has("base_name")) {
    return InvalidField(view->PathOf("base_name"), "required field is missing");
  }
  RETURN_IF_ERROR(view->ReadNonEmptyString("base_name", &artifact.base_name));
  const std::string& base = artifact.base_name;
  if (base.find('/') != std::string::npos || base.find('\0') != std::string::npos || base == "." ||
      base == "..") {
    return InvalidField(view->PathOf("base_name"),
                        absl::StrCat("must be a plain file or folder name, got '", base, "'"));
  }
  RETURN_IF_ERROR(view->ReadBool("is_file", &artifact.is_file));
  return std::optional<ArtifactRef>(std::move(artifact));
}

json ArtifactJson(const ArtifactRef& artifact) {
  return json{{"digest", artifact.digest},
              {"base_name", artifact.base_name},
              {"is_file", artifact.is_file}};
}

absl::Status CheckUploaded(bool allow_local_paths, std::string_view field,
                           std::string_view local_path,
                           const std::optional<ArtifactRef>& artifact) {
  if (artifact.has_value() || allow_local_paths) return absl::OkStatus();
  return InvalidField(
      field, absl::StrCat("local path '", absl::string_view(local_path.data(), local_path.size()),
                          "' must be uploaded; use the berth CLI, which uploads "
                          "it"));
}

absl::Status ReadAssetVersion(const ObjectView& view, std::string* out) {
  std::string version;
  RETURN_IF_ERROR(ReadVersion(view, &version));
  if (version.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(ValidateAssetName(view.PathOf("version"), version));
  if (AsciiLower(version) == "latest") {
    return InvalidField(view.PathOf("version"),
                        "'latest' is a label, not a version; give another version "
                        "or leave it out to get the next integer");
  }
  *out = std::move(version);
  return absl::OkStatus();
}

}  // namespace berth::core::internal
