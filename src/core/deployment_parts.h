#pragma once
// Internal: the parts of a deployment document that online and batch deployments share
// (`model`, `code_configuration`, `environment`, `environment_variables`), read and written by
// one implementation for both. Not part of the core API; include only from src/core/*.cc.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/json_fields.h"
#include "core/model_asset.h"
#include "core/spec.h"
#include "core/spec_json.h"
#include "nlohmann/json.hpp"

namespace berth::core::internal {

// The most instances a deployment (or one batch job) may ask for.
inline constexpr int kMaxInstanceCount = 50;

// What the part readers need besides the document: the parse options, and where warnings go
// (known fields berth accepts without honouring them).
struct ReadContext {
  const DeploymentParseOptions& options;
  std::vector<std::string>* warnings;

  void Warn(std::string_view path, std::string_view message) const;
};

// Matches `azureml:<name>:<version>` and `azureml:<name>@latest` (version ""), and with a
// non-empty `registry_kind` ("models", "environments") also a registry id
// `azureml://registries/<registry>/<registry_kind>/<name>/versions/<version>` (or
// `/labels/latest`). std::nullopt when `text` is none of these.
std::optional<AssetReference> MatchAssetReference(std::string_view text,
                                                  std::string_view registry_kind);

// `value` at `path` as a reference to a `kind` ("model", "environment") asset, registry ids
// included; INVALID_ARGUMENT on `path` otherwise.
absl::StatusOr<AssetReference> ParseAssetReference(const nlohmann::json& value,
                                                   std::string_view path, std::string_view kind);

// `model`: a reference or an inline model (named `default_name`, version "1" unless it says).
// Left untouched when absent.
absl::Status ReadModel(const ReadContext& context, const ObjectView& top,
                       std::string_view default_name, std::optional<ModelSpec>* out);
// `code_configuration`: `scoring_script` (required, inside the code folder) and `code`.
absl::Status ReadCodeConfiguration(const ReadContext& context, const ObjectView& top,
                                   std::optional<CodeConfiguration>* out);
// `environment`: a reference (warned about: berth has no environment registry) or inline.
absl::Status ReadEnvironment(const ReadContext& context, const ObjectView& top,
                             EnvironmentSpec* out);
// Environment variables at `key` of `view` (`environment_variables`, or Azure's REST
// `environmentVariables`): names without '=' or NUL, values without NUL. Untouched when absent.
absl::Status ReadEnvironmentVariables(const ObjectView& view, const std::string& key,
                                      std::map<std::string, std::string>* out);

// The inverse of the readers above: what they read back to an equal value.
nlohmann::json ModelJson(const ModelSpec& model);
nlohmann::json CodeConfigurationJson(const CodeConfiguration& code);
nlohmann::json EnvironmentJson(const EnvironmentSpec& environment);

}  // namespace berth::core::internal
