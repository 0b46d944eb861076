#pragma once
// Reading a file the user names on the command line (`-f`, `--request-file`, the conda file a
// spec names). Only regular files are read, up to a limit: `-f /dev/zero` would otherwise read
// until memory runs out, and a FIFO would block forever. Errors name the file.

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace berth::cli {

// YAML specs and conda files are small; anything bigger is a mistake.
inline constexpr uint64_t kMaxSpecFileBytes = 16ull << 20;
// Request bodies: berthd's default --max-request-body, above which it answers 413 anyway.
inline constexpr uint64_t kMaxRequestFileBytes = 100ull << 20;

// The whole content of `file`. NOT_FOUND when it does not exist; INVALID_ARGUMENT when it is not
// a regular file (a folder, a device, a FIFO, a socket) or is larger than `max_bytes`; the
// file's name starts every message. Never blocks on a FIFO: it is opened non-blocking and
// checked before anything is read.
absl::StatusOr<std::string> ReadUserFile(const std::filesystem::path& file, uint64_t max_bytes);

}  // namespace berth::cli
