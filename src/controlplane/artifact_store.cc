#include "controlplane/artifact_store.h"

#include <fstream>
#include <mutex>

#include "archive/tar_extract.h"
#include "auth/secrets.h"
#include "common/errors.h"
#include "common/random.h"

namespace berth::controlplane {

namespace fs = std::filesystem;

namespace {

absl::Status CopyTree(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec)
    return absl::InternalError("cannot copy " + from.string() + " to " + to.string() + ": " +
                               ec.message());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> DigestHex(const std::string& digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (!digest.starts_with(kPrefix) || digest.size() != kPrefix.size() + 64) {
    return absl::InvalidArgumentError("artifact digest must be 'sha256:<64 hex digits>', got '" +
                                      digest + "'");
  }
  std::string hex = digest.substr(kPrefix.size());
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError("artifact digest must be lowercase hex: '" + digest + "'");
    }
  }
  return hex;
}

absl::Status CheckDeploymentArtifacts(const ArtifactStore& artifacts,
                                      const core::DeploymentSpec& spec) {
  if (spec.model && spec.model->artifact && !artifacts.Has(spec.model->artifact->digest)) {
    return WithTarget(absl::NotFoundError("model.artifact: " + spec.model->artifact->digest +
                                          " is not uploaded; PUT it to /api/v1/artifacts first"),
                      "model.artifact");
  }
  if (spec.code_configuration && spec.code_configuration->artifact &&
      !artifacts.Has(spec.code_configuration->artifact->digest)) {
    return WithTarget(absl::NotFoundError("code_configuration.artifact: " +
                                          spec.code_configuration->artifact->digest +
                                          " is not uploaded; PUT it to /api/v1/artifacts first"),
                      "code_configuration.artifact");
  }
  return absl::OkStatus();
}

ArtifactStore::ArtifactStore(fs::path data_dir) : data_dir_(std::move(data_dir)) {}

fs::path ArtifactStore::PathOf(const std::string& digest) const {
  auto hex = DigestHex(digest);
  return data_dir_ / "artifacts" / "sha256" / (hex.ok() ? *hex : "invalid");
}

bool ArtifactStore::Has(const std::string& digest) const {
  if (!DigestHex(digest).ok()) return false;
  std::error_code ec;
  return fs::is_directory(PathOf(digest), ec);
}

absl::Status ArtifactStore::Put(const std::string& digest, const std::string& tar_bytes) {
  auto hex = DigestHex(digest);
  if (!hex.ok()) return hex.status();
  std::string actual = auth::Sha256Hex(tar_bytes);
  if (actual != *hex) {
    return absl::InvalidArgumentError("artifact body has digest sha256:" + actual + ", not the " +
                                      digest + " it was uploaded as");
  }
  if (Has(digest)) return absl::OkStatus();
  fs::path final_dir = PathOf(digest);
  fs::path tmp = final_dir.parent_path() / (".tmp-" + NewGuid());
  std::error_code ec;
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError("cannot create " + tmp.string() + ": " + ec.message());
  absl::Status extracted = archive::ExtractTar(tar_bytes, tmp, "artifact");
  if (!extracted.ok()) {
    fs::remove_all(tmp, ec);
    return extracted;
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    if (!Has(digest)) return absl::InternalError("cannot store artifact " + digest);
  }
  return absl::OkStatus();
}

absl::Status ArtifactStore::CopyTo(const core::ArtifactRef& artifact, const fs::path& dest) const {
  if (!Has(artifact.digest))
    return absl::NotFoundError("artifact " + artifact.digest + " is not stored");
  std::error_code ec;
  fs::remove_all(dest, ec);
  fs::create_directories(dest, ec);
  if (ec) return absl::InternalError("cannot create " + dest.string() + ": " + ec.message());
  return CopyTree(PathOf(artifact.digest), dest);
}

absl::StatusOr<fs::path> ArtifactStore::MaterializeModel(const core::ModelSpec& model) {
  fs::path dir = data_dir_ / "models" / model.name / model.version;
  std::error_code ec;
  if (!model.artifact) {
    fs::create_directories(dir, ec);
    return dir;
  }
  const core::ArtifactRef& artifact = *model.artifact;
  if (!Has(artifact.digest)) {
    return absl::NotFoundError("model artifact " + artifact.digest + " is not stored");
  }
  // One at a time: instances starting together (a job's workers) must not each replace the
  // folder another one's sandbox already shows.
  std::lock_guard lock(materialize_mu_);
  // The marker says which artifact the folder holds; a different one replaces it whole.
  fs::path marker = dir.parent_path() / ("." + model.version + ".artifact");
  {
    std::ifstream in(marker);
    std::string current;
    if (in && std::getline(in, current) && current == artifact.digest) return dir;
  }
  fs::path tmp = dir.parent_path() / (".tmp-" + NewGuid());
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError("cannot create " + tmp.string() + ": " + ec.message());
  fs::path source = PathOf(artifact.digest);
  absl::Status copied =
      artifact.is_file ? CopyTree(source, tmp) : CopyTree(source, tmp / artifact.base_name);
  if (!copied.ok()) {
    fs::remove_all(tmp, ec);
    return copied;
  }
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) return absl::InternalError("cannot place model at " + dir.string() + ": " + ec.message());
  std::ofstream(marker) << artifact.digest << "\n";
  return dir;
}

}  // namespace berth::controlplane
