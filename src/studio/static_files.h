#pragma once
// StaticFiles: the studio's files, read from one folder (berthd --studio-dir).
//
// Only plain relative paths of known file types are served: segments of letters, digits, '.',
// '_' and '-', none empty or starting with '.', so `..`, absolute paths, NUL and hidden files
// are refused before the file system is asked; a path that resolves (symlinks followed) outside
// the folder is refused too. Each file is kept in memory with its strong ETag (from its SHA-256)
// and read again when its mtime or size changes.
//
// Thread-safety: Read() may be called concurrently. It does file I/O, so callers run it off the
// event loop (berthd: on the blocking pool).

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::studio {

struct StaticFile {
  std::string content;
  std::string etag;          // `"sha256-<hex>"`, quotes included
  std::string content_type;  // from the extension
};

class StaticFiles {
 public:
  explicit StaticFiles(std::filesystem::path root);

  // The file at `relative` (e.g. "assets/app.js"). NOT_FOUND for a missing file, a refused
  // path or an unknown type; INTERNAL when it exists but cannot be read.
  absl::StatusOr<std::shared_ptr<const StaticFile>> Read(std::string_view relative);

  const std::filesystem::path& root() const { return root_; }

  // Whether `relative` has the plain shape described above.
  static bool IsPlainRelativePath(std::string_view relative);
  // The Content-Type for `relative`'s extension; nullopt for types the studio does not serve.
  static std::optional<std::string> ContentTypeFor(std::string_view relative);

 private:
  struct Cached {
    std::filesystem::file_time_type mtime;
    uintmax_t size = 0;
    std::shared_ptr<const StaticFile> file;
  };

  const std::filesystem::path root_;
  std::mutex mu_;
  std::map<std::string, Cached, std::less<>> cache_;  // guarded by mu_
};

}  // namespace berth::studio
