#include "cli/artifact_packer.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

constexpr int kFileMode = 0644;
constexpr int kExecutableMode = 0755;
constexpr int kDirectoryMode = 0755;

struct Entry {
  std::string name;  // relative, '/'-separated
  fs::path source;
  bool is_directory = false;
  int mode = kFileMode;
};

bool IsSkipped(const fs::path& name) { return name == "__pycache__" || name == ".git"; }

absl::Status IoError(const std::string& what, const fs::path& path, const std::error_code& ec) {
  return absl::UnknownError(absl::StrCat(what, " ", path.string(), ": ", ec.message()));
}

absl::Status SymlinkError(const fs::path& path) {
  return absl::InvalidArgumentError(
      absl::StrCat(path.string(),
                   " is a symbolic link; berth packs only regular files and "
                   "folders (replace the link with the file or folder it points to)"));
}

// Adds the entry for `path`, which exists with status `status`.
absl::Status AddEntry(const fs::path& path, const fs::file_status& status, std::string name,
                      std::vector<Entry>& entries) {
  if (fs::is_symlink(status)) return SymlinkError(path);
  if (fs::is_directory(status)) {
    entries.push_back({std::move(name), path, true, kDirectoryMode});
    return absl::OkStatus();
  }
  if (!fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), " is neither a regular file nor a folder (device, socket or pipe)"));
  }
  bool executable = (status.permissions() & fs::perms::owner_exec) != fs::perms::none;
  entries.push_back({std::move(name), path, false, executable ? kExecutableMode : kFileMode});
  return absl::OkStatus();
}

absl::Status CollectFolder(const fs::path& root, std::vector<Entry>& entries) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  if (ec) return IoError("cannot list", root, ec);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return IoError("cannot list", root, ec);
    const fs::path& path = it->path();
    if (IsSkipped(path.filename())) {
      it.disable_recursion_pending();
      continue;
    }
    fs::file_status status = it->symlink_status(ec);
    if (ec) return IoError("cannot stat", path, ec);
    RETURN_IF_ERROR(
        AddEntry(path, status, path.lexically_relative(root).generic_string(), entries));
  }
  if (ec) return IoError("cannot list", root, ec);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnknownError(
        absl::StrCat("cannot read ", path.string(), ": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::UnknownError(absl::StrCat("cannot read ", path.string()));
  return std::move(contents).str();
}

la_ssize_t AppendToString(struct archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

absl::Status ArchiveError(struct archive* a, const std::string& what) {
  const char* message = archive_error_string(a);
  return absl::InternalError(
      absl::StrCat("cannot pack ", what, ": ", message != nullptr ? message : "libarchive error"));
}

absl::StatusOr<std::string> WriteTar(const std::vector<Entry>& entries) {
  std::string out;
  std::unique_ptr<struct archive, ArchiveDeleter> a(archive_write_new());
  if (a == nullptr) return absl::ResourceExhaustedError("cannot allocate a tar writer");
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_open(a.get(), &out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "artifact");
  }
  for (const Entry& entry : entries) {
    std::string contents;
    if (!entry.is_directory) {
      absl::StatusOr<std::string> read = ReadFile(entry.source);
      if (!read.ok()) return read.status();
      contents = *std::move(read);
    }
    std::unique_ptr<struct archive_entry, EntryDeleter> header(archive_entry_new());
    archive_entry_set_pathname_utf8(header.get(), entry.name.c_str());
    archive_entry_set_filetype(header.get(), entry.is_directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(header.get(), entry.mode);
    archive_entry_set_size(header.get(), static_cast<la_int64_t>(contents.size()));
    archive_entry_set_mtime(header.get(), 0, 0);
    archive_entry_set_uid(header.get(), 0);
    archive_entry_set_gid(header.get(), 0);
    if (archive_write_header(a.get(), header.get()) < ARCHIVE_WARN) {
      return ArchiveError(a.get(), entry.source.string());
    }
    if (!contents.empty() && archive_write_data(a.get(), contents.data(), contents.size()) !=
                                 static_cast<la_ssize_t>(contents.size())) {
      return ArchiveError(a.get(), entry.source.string());
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), "artifact");
  return out;
}

}  // namespace

std::string Sha256Digest(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), md, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xF]);
  }
  return out;
}

absl::StatusOr<PackedArtifact> PackArtifact(const fs::path& path) {
  // "model/" and "model" name the same folder; "." names the current one.
  fs::path normal = fs::absolute(path).lexically_normal();
  if (!normal.has_filename() && normal.has_parent_path() && normal != normal.root_path()) {
    normal = normal.parent_path();
  }
  PackedArtifact out;
  out.base_name = normal.filename().string();
  if (out.base_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": cannot pack the file system root"));
  }

  std::error_code ec;
  fs::file_status status = fs::symlink_status(normal, ec);
  if (status.type() == fs::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat("no such file or folder: ", normal.string()));
  }
  if (ec) return IoError("cannot stat", normal, ec);

  std::vector<Entry> entries;
  if (fs::is_directory(status)) {
    RETURN_IF_ERROR(CollectFolder(normal, entries));
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
  } else {
    out.is_file = true;
    RETURN_IF_ERROR(AddEntry(normal, status, out.base_name, entries));
  }

  absl::StatusOr<std::string> tar = WriteTar(entries);
  if (!tar.ok()) return tar.status();
  out.tar = *std::move(tar);
  out.digest = Sha256Digest(out.tar);
  return out;
}

}  // namespace berth::cli
