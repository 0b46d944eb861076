#pragma once
// Turns what the user gave (a YAML file, --set assignments, --name flags) into the JSON document
// sent to berthd, and handles the local folders the document names: each `model.path` and
// `code_configuration.code` is packed (artifact_packer.h), referenced as `<section>.artifact`
// and uploaded unless the server has it.
//
// Errors that concern the file carry its name: "<file>: model.path: no such file or folder: ...".

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/artifact_packer.h"
#include "cli/generic_update.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

struct SpecInput {
  std::optional<std::filesystem::path> file;  // the YAML file (-f), if any
  std::vector<std::string> set_assignments;   // --set a.b=value
  AddRemoveArguments add_remove;              // --add, --remove: applied after --set
  // Top-level string fields the command line sets (name, endpoint_name); they win over the file
  // and --set.
  std::vector<std::pair<std::string, std::string>> overrides;
  // The resource as berthd has it, for a partial update (no file) with --add or --remove.
  std::function<absl::StatusOr<nlohmann::json>()> current;
};

// Adds the flags that were given (non-empty) as overrides of those top-level fields.
void OverrideGivenFields(SpecInput& input,
                         std::initializer_list<std::pair<const char*, const std::string*>> flags);

// Reads a YAML file into a JSON object. Errors name the file.
absl::StatusOr<nlohmann::json> LoadSpecFile(const std::filesystem::path& file);

// The file (or an empty object) merged with the --set assignments, --add and --remove applied,
// then the overrides. Without a file the --set document is returned as is, so `key=null` still
// reaches the server as a removal; with --add or --remove it is the difference they and --set
// make to `current` (a usage error without `current`).
absl::StatusOr<nlohmann::json> BuildSpecDocument(const SpecInput& input);

// A folder or file of the document, packed.
struct DocumentArtifact {
  std::string field;  // "model.path" or "code_configuration.code"
  PackedArtifact packed;
};

// A reference to something berthd resolves itself (`azureml:...`, a URL) rather than a local path.
bool IsRemoteReference(const std::string& path);

// {"digest", "base_name", "is_file"}: how a document references an uploaded artifact.
nlohmann::json ArtifactJson(const PackedArtifact& packed);

// Packs the local folders the document names, resolving relative paths against `base_dir`
// (the YAML file's folder), and sets `model.artifact` / `code_configuration.artifact`. The
// paths stay as written. Errors name `spec_file` (when given) and the field.
absl::StatusOr<std::vector<DocumentArtifact>> PackDocumentArtifacts(
    nlohmann::json& doc, const std::filesystem::path& base_dir, std::string_view spec_file);

// Where artifacts go: berthd's artifact API, or a fake in tests.
class ArtifactStore {
 public:
  virtual ~ArtifactStore() = default;
  virtual absl::StatusOr<bool> Has(std::string_view digest) = 0;
  virtual absl::Status Put(std::string_view digest, const std::string& tar) = 0;
};

// Uploads each artifact the store lacks. `on_upload` is told before each upload (for progress).
// Returns the number uploaded.
absl::StatusOr<int> UploadArtifacts(const std::vector<DocumentArtifact>& artifacts,
                                    ArtifactStore& store,
                                    const std::function<void(const DocumentArtifact&)>& on_upload);

}  // namespace berth::cli
