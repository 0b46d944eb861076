#include "cli/spec_document.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/user_file.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct LocalPathField {
  const char* section;  // "model" or "code_configuration"
  const char* key;      // "path" or "code"
};
constexpr LocalPathField kLocalPathFields[] = {{"model", "path"}, {"code_configuration", "code"}};

absl::Status InFile(const absl::Status& status, std::string_view spec_file) {
  return spec_file.empty() ? status : Annotate(status, spec_file);
}

}  // namespace

bool IsRemoteReference(const std::string& path) {
  return absl::StartsWith(path, "azureml:") || path.find("://") != std::string::npos;
}

json ArtifactJson(const PackedArtifact& packed) {
  return json{
      {"digest", packed.digest}, {"base_name", packed.base_name}, {"is_file", packed.is_file}};
}

void OverrideGivenFields(SpecInput& input,
                         std::initializer_list<std::pair<const char*, const std::string*>> flags) {
  for (const auto& [field, value] : flags) {
    if (!value->empty()) input.overrides.emplace_back(field, *value);
  }
}

absl::StatusOr<json> LoadSpecFile(const fs::path& file) {
  ASSIGN_OR_RETURN(std::string text, ReadUserFile(file, kMaxSpecFileBytes));
  absl::StatusOr<json> doc = core::YamlToJson(text);
  if (!doc.ok()) return Annotate(doc.status(), file.string());
  if (doc->is_null()) return json::object();  // an empty file
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.string(), ": expected a mapping of fields at the top level"));
  }
  return doc;
}

absl::StatusOr<json> BuildSpecDocument(const SpecInput& input) {
  json doc = json::object();
  if (input.file) {
    ASSIGN_OR_RETURN(doc, LoadSpecFile(*input.file));
  }
  json update = json::object();
  if (!input.set_assignments.empty()) {
    absl::StatusOr<json> parsed = core::SetAssignmentsToUpdate(input.set_assignments);
    if (!parsed.ok()) return Annotate(parsed.status(), "--set");
    update = *std::move(parsed);
  }
  if (input.file || input.add_remove.empty()) {
    doc = input.file ? core::MergeSpec(doc, update) : std::move(update);
    RETURN_IF_ERROR(ApplyAddRemove(input.add_remove, doc));
  } else {
    if (!input.current) {
      return absl::InvalidArgumentError("--add and --remove need -f/--file here");
    }
    ASSIGN_OR_RETURN(const json current, input.current());
    json changed = core::MergeSpec(current, update);
    RETURN_IF_ERROR(ApplyAddRemove(input.add_remove, changed));
    doc = MergeDocumentBetween(current, changed);
  }
  for (const auto& [field, value] : input.overrides) doc[field] = value;
  return doc;
}

// berthd checks a conda file against the interpreter that runs the deployment; it cannot read
// client files, so its content travels as `environment.conda`.
absl::Status InlineCondaFile(json& doc, const fs::path& base_dir, std::string_view spec_file) {
  auto env = doc.find("environment");
  if (env == doc.end() || !env->is_object()) return absl::OkStatus();
  auto file = env->find("conda_file");
  if (file == env->end() || !file->is_string() || env->contains("conda")) return absl::OkStatus();
  const std::string written = file->get<std::string>();
  fs::path resolved = fs::path(written).is_absolute() ? fs::path(written) : base_dir / written;
  absl::StatusOr<std::string> text = ReadUserFile(resolved, kMaxSpecFileBytes);
  if (!text.ok()) {
    return InFile(InvalidField("environment.conda_file", std::string(text.status().message())),
                  spec_file);
  }
  absl::StatusOr<json> conda = core::YamlToJson(*text);
  if (!conda.ok() || !conda->is_object()) {
    return InFile(InvalidField("environment.conda_file",
                               absl::StrCat("'", resolved.string(), "' is not a conda YAML file",
                                            conda.ok() ? "" : ": ",
                                            conda.ok() ? "" : conda.status().message())),
                  spec_file);
  }
  (*env)["conda"] = *std::move(conda);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<DocumentArtifact>> PackDocumentArtifacts(json& doc,
                                                                    const fs::path& base_dir,
                                                                    std::string_view spec_file) {
  std::vector<DocumentArtifact> out;
  if (!doc.is_object()) return out;
  for (const LocalPathField& field : kLocalPathFields) {
    auto section = doc.find(field.section);
    // A string `model: azureml:name:1` references a registered model: nothing to pack.
    if (section == doc.end() || !section->is_object()) continue;
    auto value = section->find(field.key);
    if (value == section->end() || value->is_null()) continue;
    const std::string path_field = absl::StrCat(field.section, ".", field.key);
    if (!value->is_string() || value->get<std::string>().empty()) {
      return InFile(InvalidField(path_field, "expected the path of a local folder or file"),
                    spec_file);
    }
    const std::string written = value->get<std::string>();
    if (IsRemoteReference(written)) {
      return InFile(InvalidField(path_field, absl::StrCat("\"", written,
                                                          "\": berth uploads local folders and "
                                                          "files only; give a local path")),
                    spec_file);
    }
    fs::path resolved = fs::path(written).is_absolute() ? fs::path(written) : base_dir / written;
    absl::StatusOr<PackedArtifact> packed = PackArtifact(resolved);
    if (!packed.ok()) {
      return InFile(InvalidField(path_field, std::string(packed.status().message())), spec_file);
    }
    (*section)["artifact"] = ArtifactJson(*packed);
    out.push_back({path_field, *std::move(packed)});
  }
  RETURN_IF_ERROR(InlineCondaFile(doc, base_dir, spec_file));
  return out;
}

absl::StatusOr<int> UploadArtifacts(const std::vector<DocumentArtifact>& artifacts,
                                    ArtifactStore& store,
                                    const std::function<void(const DocumentArtifact&)>& on_upload) {
  int uploaded = 0;
  std::vector<std::string> done;
  for (const DocumentArtifact& artifact : artifacts) {
    // Model and code may be the same folder; one upload serves both.
    if (std::find(done.begin(), done.end(), artifact.packed.digest) != done.end()) continue;
    done.push_back(artifact.packed.digest);
    absl::StatusOr<bool> has = store.Has(artifact.packed.digest);
    if (!has.ok()) return Annotate(has.status(), "checking artifact " + artifact.packed.digest);
    if (*has) continue;
    if (on_upload) on_upload(artifact);
    absl::Status put = store.Put(artifact.packed.digest, artifact.packed.tar);
    if (!put.ok()) {
      return Annotate(
          put, absl::StrCat("uploading ", artifact.field, " (", artifact.packed.base_name, ")"));
    }
    ++uploaded;
  }
  return uploaded;
}

}  // namespace berth::cli
