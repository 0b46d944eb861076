#include "studio/static_files.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "auth/secrets.h"

namespace berth::studio {
namespace fs = std::filesystem;

namespace {

bool IsPlainSegment(std::string_view segment) {
  if (segment.empty() || segment.front() == '.') return false;
  for (char c : segment) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// Whether `path` is `root` or below it; both canonical.
bool IsWithin(const fs::path& path, const fs::path& root) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

}  // namespace

StaticFiles::StaticFiles(fs::path root) : root_(std::move(root)) {}

bool StaticFiles::IsPlainRelativePath(std::string_view relative) {
  if (relative.empty() || relative.size() > 512) return false;
  while (true) {
    size_t slash = relative.find('/');
    if (!IsPlainSegment(relative.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    relative.remove_prefix(slash + 1);
  }
}

std::optional<std::string> StaticFiles::ContentTypeFor(std::string_view relative) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"ico", "image/x-icon"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"woff2", "font/woff2"},
  };
  size_t slash = relative.rfind('/');
  size_t dot = relative.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return std::nullopt;
  }
  auto it = kTypes.find(absl::AsciiStrToLower(std::string(relative.substr(dot + 1))));
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::shared_ptr<const StaticFile>> StaticFiles::Read(std::string_view relative) {
  const std::string shown(relative);
  std::optional<std::string> content_type = ContentTypeFor(relative);
  if (!IsPlainRelativePath(relative) || !content_type) {
    return absl::NotFoundError("no studio file " + shown);
  }
  std::error_code ec;
  fs::path root = fs::canonical(root_, ec);
  if (ec) return absl::NotFoundError("no studio file " + shown + " (no studio folder)");
  fs::path path = fs::canonical(root / fs::path(shown), ec);
  if (ec || !IsWithin(path, root) || !fs::is_regular_file(path, ec)) {
    return absl::NotFoundError("no studio file " + shown);
  }
  fs::file_time_type mtime = fs::last_write_time(path, ec);
  uintmax_t size = ec ? 0 : fs::file_size(path, ec);
  if (ec) return absl::NotFoundError("no studio file " + shown);
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(relative);
    if (it != cache_.end() && it->second.mtime == mtime && it->second.size == size) {
      return it->second.file;
    }
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in && !in.eof()) return absl::InternalError("cannot read studio file " + shown);
  auto file = std::make_shared<StaticFile>();
  file->content = std::move(content).str();
  file->etag = "\"sha256-" + auth::Sha256Hex(file->content) + "\"";
  file->content_type = *content_type;
  // Keyed by what the file held when stat'ed: a write racing the read is caught next time, as
  // the mtime or size will have moved on.
  std::lock_guard lock(mu_);
  cache_[shown] = Cached{mtime, size, file};
  return std::shared_ptr<const StaticFile>(file);
}

}  // namespace berth::studio
