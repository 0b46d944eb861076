#include "controlplane/artifact_store.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <memory>
#include <vector>

#include "auth/secrets.h"
#include "common/errors.h"
#include "common/random.h"

namespace berth::controlplane {

namespace fs = std::filesystem;

namespace {

// Linux's NAME_MAX: no file or folder name can be longer.
constexpr size_t kMaxEntryPartBytes = 255;
// Leaves room under PATH_MAX (4096) for the data folder and the instance folders the artifact is
// copied into.
constexpr size_t kMaxEntryPathBytes = 2048;
constexpr size_t kMaxShownEntryBytes = 160;

// An entry's name for messages: a very long one is cut, saying how long it was.
std::string ShownEntry(const std::string& name) {
  if (name.size() <= kMaxShownEntryBytes) return "'" + name + "'";
  return "'" + name.substr(0, kMaxShownEntryBytes) + "...' (" + std::to_string(name.size()) +
         " bytes)";
}

absl::Status BadEntry(const std::string& name, const std::string& why) {
  return absl::InvalidArgumentError("artifact entry " + ShownEntry(name) + " " + why);
}

// Names the file system would refuse (ENAMETOOLONG) are bad input, not a server fault.
absl::Status CheckEntryLength(const std::string& name, const fs::path& rel) {
  if (rel.native().size() > kMaxEntryPathBytes) {
    return BadEntry(name, "is " + std::to_string(rel.native().size()) +
                              " bytes long; paths in an artifact may be at most " +
                              std::to_string(kMaxEntryPathBytes) + " bytes");
  }
  for (const fs::path& part : rel) {
    if (part.native().size() > kMaxEntryPartBytes) {
      return BadEntry(name, "has a file or folder name of " + std::to_string(part.native().size()) +
                                " bytes; names may be at most " +
                                std::to_string(kMaxEntryPartBytes) + " bytes");
    }
  }
  return absl::OkStatus();
}

// An entry must not turn a file of an earlier entry into a folder, or the reverse.
absl::Status CheckEntryPlace(const std::string& name, const fs::path& dest, const fs::path& rel,
                             bool is_folder) {
  std::vector<fs::path> parts;
  for (const fs::path& part : rel) {
    if (!part.empty()) parts.push_back(part);
  }
  fs::path at = dest;
  fs::path shown;
  for (size_t i = 0; i < parts.size(); ++i) {
    at /= parts[i];
    shown /= parts[i];
    std::error_code ec;
    const fs::file_status status = fs::symlink_status(at, ec);
    if (!fs::exists(status)) return absl::OkStatus();
    const bool last = i + 1 == parts.size();
    const bool folder = fs::is_directory(status);
    if (!last && !folder) {
      return BadEntry(name, "is inside '" + shown.string() +
                                "', which an earlier entry made a file; a name is either a file or "
                                "a folder");
    }
    if (last && is_folder && !folder) {
      return BadEntry(name, "is a folder, but an earlier entry made it a file");
    }
    if (last && !is_folder && folder) {
      return BadEntry(name, "is a file, but an earlier entry made it a folder");
    }
  }
  return absl::OkStatus();
}

absl::Status Extract(const std::string& tar_bytes, const fs::path& dest) {
  std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                archive_read_free);
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_memory(reader.get(), tar_bytes.data(), tar_bytes.size()) != ARCHIVE_OK) {
    return absl::InvalidArgumentError(std::string("artifact is not a tar archive: ") +
                                      archive_error_string(reader.get()));
  }
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(reader.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) {
      return absl::InvalidArgumentError(std::string("artifact tar is corrupt: ") +
                                        archive_error_string(reader.get()));
    }
    std::string name = archive_entry_pathname(entry);
    fs::path rel = fs::path(name).lexically_normal();
    if (rel.is_absolute() || rel.empty() || *rel.begin() == "..") {
      return absl::InvalidArgumentError("artifact entry '" + name + "' escapes the folder");
    }
    if (rel == ".") continue;
    if (absl::Status length = CheckEntryLength(name, rel); !length.ok()) return length;
    fs::path target = dest / rel;
    auto type = archive_entry_filetype(entry);
    if (type != AE_IFDIR && type != AE_IFREG) {
      return absl::InvalidArgumentError("artifact entry '" + name +
                                        "' is not a regular file or folder");
    }
    if (absl::Status place = CheckEntryPlace(name, dest, rel, type == AE_IFDIR); !place.ok()) {
      return place;
    }
    std::error_code ec;
    if (type == AE_IFDIR) {
      fs::create_directories(target, ec);
      if (ec) return absl::InternalError("cannot create " + target.string() + ": " + ec.message());
      continue;
    }
    fs::create_directories(target.parent_path(), ec);
    if (ec) {
      return absl::InternalError("cannot create " + target.parent_path().string() + ": " +
                                 ec.message());
    }
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError("cannot write " + target.string());
    const void* block;
    size_t size;
    la_int64_t offset;
    while ((rc = archive_read_data_block(reader.get(), &block, &size, &offset)) == ARCHIVE_OK) {
      out.write(static_cast<const char*>(block), static_cast<std::streamsize>(size));
    }
    if (rc != ARCHIVE_EOF) {
      return absl::InvalidArgumentError("artifact entry '" + name + "' is truncated");
    }
    out.close();
    bool executable = (archive_entry_perm(entry) & 0100) != 0;
    fs::permissions(target, executable ? fs::perms(0755) : fs::perms(0644),
                    fs::perm_options::replace, ec);
  }
  return absl::OkStatus();
}

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
  absl::Status extracted = Extract(tar_bytes, tmp);
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
