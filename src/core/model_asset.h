#pragma once
// Registered models (the model registry): the document that registers a model version (Azure
// ML's model YAML, as JSON) and the references deployments make to registered models
// (`model: azureml:<name>:<version>`). Pure functions, like the rest of core.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"

namespace berth::core {

// A model version to register: the fields of Azure's model YAML (`$schema` is ignored) plus the
// `artifact` the CLI adds once it has uploaded `path`.
struct ModelAsset {
  std::string name;
  std::string version;                // "" = the registry picks the next integer
  std::string type = "custom_model";  // custom_model | mlflow_model | triton_model
  std::string description;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> properties;
  std::string path;                     // as the user wrote it (informational)
  std::optional<ArtifactRef> artifact;  // the uploaded folder or file
  bool operator==(const ModelAsset&) const = default;
};

struct ModelParseOptions {
  // The CLI checks a file before it packs and uploads `path`; the server requires `artifact`.
  bool allow_local_paths = false;
};

// Parses and validates a model document. INVALID_ARGUMENT naming the field (ErrorTarget); an
// unknown field is an error suggesting the closest known one. The read-only fields of the API's
// answer (`created_at`, `id`) are ignored, so a shown model can be registered again.
absl::StatusOr<ModelAsset> ParseModelDocument(const nlohmann::json& doc,
                                              const ModelParseOptions& options = {});

// The document (what ParseModelDocument reads back): empty `version` and `path` are left out.
nlohmann::json ToJson(const ModelAsset& model);

// Azure's rule for asset names, which berth also applies to versions since both name a folder
// on the server: 1-255 letters, digits, '-', '_' and '.', starting with a letter or a digit.
// INVALID_ARGUMENT on `field` otherwise.
absl::Status ValidateAssetName(std::string_view field, std::string_view value);

// What a deployment's `model: <reference>` names.
struct AssetReference {
  std::string name;
  std::string version;  // "" for the latest version
  bool operator==(const AssetReference&) const = default;
};

// Parses `azureml:<name>:<version>`, `azureml:<name>@latest` or a registry id
// (`azureml://registries/<registry>/models/<name>/versions/<version>`, `.../labels/latest`).
// INVALID_ARGUMENT on `model` otherwise.
absl::StatusOr<AssetReference> ParseModelReference(const std::string& text);

// "azureml:<name>:<version>".
std::string ModelReference(std::string_view name, std::string_view version);

}  // namespace berth::core
