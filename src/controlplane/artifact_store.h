#pragma once
// ArtifactStore: uploaded folders and files, content-addressed under
// <data-dir>/artifacts/sha256/<hex>/ (extracted from the CLI's deterministic tar), and the
// places instances see them: model folders under <data-dir>/models/<name>/<version>/ and
// per-instance copies of code.
// Thread-safety: all methods may be called concurrently; writes go through a temp dir and a
// rename, so readers never see a half-written artifact.

#include <filesystem>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "core/spec.h"

namespace berth::controlplane {

class ArtifactStore {
 public:
  explicit ArtifactStore(std::filesystem::path data_dir);

  // True when `digest` ("sha256:<hex>") is stored.
  bool Has(const std::string& digest) const;

  // Verifies the tar's digest and extracts it. INVALID_ARGUMENT, naming the entry, for a
  // malformed digest, a digest mismatch, an unsafe entry (absolute path, "..", links), a name
  // that is both a file and a folder, or a name too long for the file system; nothing is stored
  // then. OK if already stored.
  absl::Status Put(const std::string& digest, const std::string& tar_bytes);

  // The extracted folder of a stored artifact.
  std::filesystem::path PathOf(const std::string& digest) const;

  // Lays out an inline model as Azure does and returns AZUREML_MODEL_DIR:
  // <data-dir>/models/<name>/<version>/ holding the folder under its base name, or the file.
  absl::StatusOr<std::filesystem::path> MaterializeModel(const core::ModelSpec& model);

  // Copies an artifact's contents into `dest` (created; emptied first).
  absl::Status CopyTo(const core::ArtifactRef& artifact, const std::filesystem::path& dest) const;

 private:
  std::filesystem::path data_dir_;
  std::mutex materialize_mu_;  // MaterializeModel calls, one at a time
};

// NOT_FOUND, with the field as its target (`model.artifact`, `code_configuration.artifact`),
// when an artifact that `spec` names is not stored. Shared by online and batch deployments.
absl::Status CheckDeploymentArtifacts(const ArtifactStore& artifacts,
                                      const core::DeploymentSpec& spec);

// Validates "sha256:<64 lowercase hex>" and returns the hex part.
absl::StatusOr<std::string> DigestHex(const std::string& digest);

}  // namespace berth::controlplane
