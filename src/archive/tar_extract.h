#pragma once
// Safe extraction of a tar archive into a folder: berthd unpacks uploaded artifacts with it, the
// CLI the outputs and logs it downloads. Only regular files and folders are written, and only
// below the destination: absolute names, ".." that climbs out, links, devices, names too long
// for the file system and writes through a symbolic link already on disk are refused, naming
// the entry. Thread-compatible; no state.

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace berth::archive {

// Extracts `tar_bytes` into `dest` (created when missing; files already there are overwritten).
// Files keep 0755 when the owner may execute them, 0644 otherwise. `what` names the archive in
// errors ("artifact", "download"): INVALID_ARGUMENT for a bad archive or entry, INTERNAL when
// the disk refuses a write. Entries written before an error stay.
absl::Status ExtractTar(const std::string& tar_bytes, const std::filesystem::path& dest,
                        std::string_view what);

}  // namespace berth::archive
