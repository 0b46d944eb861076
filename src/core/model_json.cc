// The model document <-> ModelAsset conversion and the asset name rule.

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/json_fields.h"
#include "core/model_asset.h"

namespace berth::core {
namespace {

using internal::ObjectView;
using nlohmann::json;

constexpr size_t kMaxAssetNameLength = 255;
constexpr size_t kMaxShownLength = 60;

}  // namespace

absl::Status ValidateAssetName(std::string_view field, std::string_view value) {
  std::string shown(value.substr(0, kMaxShownLength));
  if (shown.size() < value.size()) shown += "...";
  if (value.empty() || value.size() > kMaxAssetNameLength) {
    return InvalidField(field, absl::StrCat("must be 1 to ", kMaxAssetNameLength,
                                            " characters long, got '", shown, "'"));
  }
  const auto allowed = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  };
  const bool valid_chars = std::all_of(value.begin(), value.end(), allowed);
  if (!valid_chars || !absl::ascii_isalnum(static_cast<unsigned char>(value.front()))) {
    return InvalidField(field, absl::StrCat("may contain only letters, digits, '-', '_' and '.', "
                                            "and must start with a letter or a digit; got '",
                                            shown, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelAsset> ParseModelDocument(const json& doc, const ModelParseOptions& options) {
  ASSIGN_OR_RETURN(ObjectView view, ObjectView::Open(doc, "",
                                                     {"name", "version", "type", "description",
                                                      "tags", "properties", "path", "artifact"},
                                                     {"$schema", "created_at", "id"}));
  ModelAsset model;
  if (!view.Has("name")) return InvalidField("name", "a model needs a name");
  RETURN_IF_ERROR(view.ReadString("name", &model.name));
  RETURN_IF_ERROR(ValidateAssetName("name", model.name));
  RETURN_IF_ERROR(internal::ReadAssetVersion(view, &model.version));
  RETURN_IF_ERROR(
      view.ReadChoice("type", {"custom_model", "mlflow_model", "triton_model"}, &model.type));
  RETURN_IF_ERROR(view.ReadString("description", &model.description));
  RETURN_IF_ERROR(view.ReadStringMap("tags", &model.tags));
  RETURN_IF_ERROR(view.ReadStringMap("properties", &model.properties));
  RETURN_IF_ERROR(view.ReadString("path", &model.path));
  ASSIGN_OR_RETURN(model.artifact, internal::ReadArtifact(view));
  if (model.path.empty() && !model.artifact.has_value()) {
    return InvalidField("path", "a model needs a path: the local folder or file to register");
  }
  RETURN_IF_ERROR(
      internal::CheckUploaded(options.allow_local_paths, "path", model.path, model.artifact));
  return model;
}

json ToJson(const ModelAsset& model) {
  json doc = {{"name", model.name},
              {"type", model.type},
              {"description", model.description},
              {"tags", json(model.tags)},
              {"properties", json(model.properties)}};
  if (!model.version.empty()) doc["version"] = model.version;
  if (!model.path.empty()) doc["path"] = model.path;
  if (model.artifact.has_value()) doc["artifact"] = internal::ArtifactJson(*model.artifact);
  return doc;
}

std::string ModelReference(std::string_view name, std::string_view version) {
  return absl::StrCat("azureml:", absl::string_view(name.data(), name.size()), ":",
                      absl::string_view(version.data(), version.size()));
}

}  // namespace berth::core
