#pragma once
// Internal helpers of the spec parsers: typed reads of JSON object fields that report errors
// with the field path (berth::InvalidField) and reject unknown fields with a suggestion.
// Not part of the core API; include only from src/core/*.cc.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"

namespace berth::core::internal {

// "parent.key", or "key" at the top level.
std::string JoinPath(std::string_view parent, std::string_view key);

// What a value is, for error messages: `string "fast"`, `integer 5`, `number 1.5`,
// `boolean true`, `null`, `an object`, `a list`.
std::string DescribeValue(const nlohmann::json& value);

// INVALID_ARGUMENT "<path>: expected <expected>, got <DescribeValue(got)>".
absl::Status TypeError(std::string_view path, std::string_view expected, const nlohmann::json& got);

// A scalar (string, number, boolean) as text: numbers as JSON writes them, booleans as
// "true"/"false"; null reads as "" (YAML's `KEY:` with nothing after it). Objects and lists fail.
absl::StatusOr<std::string> ScalarToString(const nlohmann::json& value, std::string_view path);

// An integer in [min, max] read from `value`; a number with a fraction or a string of digits is
// an error naming `path`.
absl::StatusOr<int> IntFromJson(const nlohmann::json& value, std::string_view path, int min,
                                int max);

// Lower-cases ASCII letters.
std::string AsciiLower(std::string_view text);

// One JSON object being read. A field that is absent or null counts as not set, so readers
// leave their output (the default) untouched. The viewed JSON must outlive the view.
class ObjectView {
 public:
  // Fails unless `value` is an object whose keys are all in `known` or `ignored`; an unknown
  // key is reported with the closest known name. `ignored` names are accepted silently and
  // not suggested (read-only output fields a client may echo back).
  static absl::StatusOr<ObjectView> Open(const nlohmann::json& value, std::string path,
                                         const std::vector<std::string>& known,
                                         const std::vector<std::string>& ignored = {});

  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return JoinPath(path_, key); }

  // True when the field is present and not null.
  bool Has(const std::string& key) const;
  // The field's value; only valid when Has(key).
  const nlohmann::json& Get(const std::string& key) const;

  absl::Status ReadString(const std::string& key, std::string* out) const;
  // Like ReadString, but an empty string is an error.
  absl::Status ReadNonEmptyString(const std::string& key, std::string* out) const;
  absl::Status ReadBool(const std::string& key, bool* out) const;
  // An integer in [min, max]; a number with a fraction or a string of digits is an error.
  absl::Status ReadInt(const std::string& key, int min, int max, int* out) const;
  // An object of scalars, each converted with ScalarToString.
  absl::Status ReadStringMap(const std::string& key, std::map<std::string, std::string>* out) const;
  // A string compared case-insensitively with `choices` (given lower case); stores the match.
  absl::Status ReadChoice(const std::string& key, const std::vector<std::string>& choices,
                          std::string* out) const;
  // A nested object; std::nullopt when the field is not set.
  absl::StatusOr<std::optional<ObjectView>> ReadObject(
      const std::string& key, const std::vector<std::string>& known,
      const std::vector<std::string>& ignored = {}) const;

 private:
  ObjectView(const nlohmann::json* object, std::string path)
      : object_(object), path_(std::move(path)) {}

  const nlohmann::json* object_;
  std::string path_;
};

// An asset version (`version` of a model): a non-empty string or a number (YAML reads
// `version: 2` as one), as text. Left untouched when absent.
absl::Status ReadVersion(const ObjectView& view, std::string* out);

// The `artifact` object the CLI adds next to a local path: {digest: "sha256:<64 hex>",
// base_name, is_file}. std::nullopt when absent.
absl::StatusOr<std::optional<ArtifactRef>> ReadArtifact(const ObjectView& parent);
// The `artifact` object ReadArtifact reads.
nlohmann::json ArtifactJson(const ArtifactRef& artifact);

// A field naming client files (`path`, `code`) is usable on the server only once the CLI has
// uploaded them (`artifact` set); `allow_local_paths` is the CLI's own check before it uploads.
// INVALID_ARGUMENT on `field` otherwise.
absl::Status CheckUploaded(bool allow_local_paths, std::string_view field,
                           std::string_view local_path, const std::optional<ArtifactRef>& artifact);

// The `version` of a registered asset (a model or data version): ReadVersion, then
// ValidateAssetName; `latest` is refused, being the label of the newest version. Left
// untouched when absent.
absl::Status ReadAssetVersion(const ObjectView& view, std::string* out);

}  // namespace berth::core::internal
