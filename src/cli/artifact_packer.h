#pragma once
// Packs a model or code folder (or a single file) into the deterministic tar berthd stores
// content-addressed (docs/api.md, "Artifacts"): the same content always gives the same bytes
// and so the same digest, which lets the CLI skip uploads the server already has.
//
// Format: POSIX pax (restricted: plain ustar headers unless a name needs more), entries sorted
// by path, relative to the folder (the folder's own name is not a prefix), mtime 0, uid/gid 0,
// empty owner names, files 0644 or 0755 when the owner may execute them, folders 0755.
// `__pycache__` and `.git` are left out. Symbolic links and special files are refused.

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::cli {

struct PackedArtifact {
  std::string tar;        // the archive bytes
  std::string digest;     // "sha256:" + lowercase hex SHA-256 of `tar`
  std::string base_name;  // the folder's or file's own name ("model", "model.pkl")
  bool is_file = false;   // a single file: the tar holds one entry named `base_name`
};

// Packs `path` (a trailing '/' is ignored). NOT_FOUND when it does not exist; INVALID_ARGUMENT
// naming the offending path for symbolic links and special files; other I/O errors as UNKNOWN.
absl::StatusOr<PackedArtifact> PackArtifact(const std::filesystem::path& path);

// "sha256:" + lowercase hex SHA-256 of `data`.
std::string Sha256Digest(std::string_view data);

}  // namespace berth::cli
