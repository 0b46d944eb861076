#include "archive/tar_extract.h"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace berth::archive {
namespace {

namespace fs = std::filesystem;

// Linux's NAME_MAX: no file or folder name can be longer.
constexpr size_t kMaxEntryPartBytes = 255;
// Leaves room under PATH_MAX (4096) for the destination and the folders it is copied into.
constexpr size_t kMaxEntryPathBytes = 2048;
constexpr size_t kMaxShownEntryBytes = 160;

// An entry's name for messages: a very long one is cut, saying how long it was.
std::string ShownEntry(const std::string& name) {
  if (name.size() <= kMaxShownEntryBytes) return "'" + name + "'";
  return "'" + name.substr(0, kMaxShownEntryBytes) + "...' (" + std::to_string(name.size()) +
         " bytes)";
}

class Extractor {
 public:
  Extractor(const fs::path& dest, std::string_view what) : dest_(dest), what_(what) {}

  absl::Status Run(const std::string& tar_bytes) {
    std::unique_ptr<::archive, decltype(&archive_read_free)> reader(archive_read_new(),
                                                                    archive_read_free);
    archive_read_support_format_tar(reader.get());
    if (archive_read_open_memory(reader.get(), tar_bytes.data(), tar_bytes.size()) != ARCHIVE_OK) {
      return absl::InvalidArgumentError(
          absl::StrCat(what_, " is not a tar archive: ", archive_error_string(reader.get())));
    }
    std::error_code ec;
    fs::create_directories(dest_, ec);
    if (ec) return absl::InternalError("cannot create " + dest_.string() + ": " + ec.message());
    archive_entry* entry = nullptr;
    for (;;) {
      int rc = archive_read_next_header(reader.get(), &entry);
      if (rc == ARCHIVE_EOF) return absl::OkStatus();
      if (rc != ARCHIVE_OK) {
        return absl::InvalidArgumentError(
            absl::StrCat(what_, " tar is corrupt: ", archive_error_string(reader.get())));
      }
      if (absl::Status status = Entry(reader.get(), entry); !status.ok()) return status;
    }
  }

 private:
  absl::Status BadEntry(const std::string& name, const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrCat(what_, " entry ", ShownEntry(name), " ", why));
  }

  // Names the file system would refuse (ENAMETOOLONG) are bad input, not a fault of the disk.
  absl::Status CheckEntryLength(const std::string& name, const fs::path& rel) const {
    if (rel.native().size() > kMaxEntryPathBytes) {
      return BadEntry(name, absl::StrCat("is ", rel.native().size(), " bytes long; paths in an ",
                                         what_, " may be at most ", kMaxEntryPathBytes, " bytes"));
    }
    for (const fs::path& part : rel) {
      if (part.native().size() > kMaxEntryPartBytes) {
        return BadEntry(
            name, absl::StrCat("has a file or folder name of ", part.native().size(),
                               " bytes; names may be at most ", kMaxEntryPartBytes, " bytes"));
      }
    }
    return absl::OkStatus();
  }

  // An entry must not turn a file of an earlier entry into a folder, or the reverse, nor write
  // through a symbolic link already on disk (which could point anywhere).
  absl::Status CheckEntryPlace(const std::string& name, const fs::path& rel, bool is_folder) const {
    std::vector<fs::path> parts;
    for (const fs::path& part : rel) {
      if (!part.empty()) parts.push_back(part);
    }
    fs::path at = dest_;
    fs::path shown;
    for (size_t i = 0; i < parts.size(); ++i) {
      at /= parts[i];
      shown /= parts[i];
      std::error_code ec;
      const fs::file_status status = fs::symlink_status(at, ec);
      if (!fs::exists(status)) return absl::OkStatus();
      if (fs::is_symlink(status)) {
        return BadEntry(name, "would be written through the symbolic link '" + shown.string() +
                                  "' in " + dest_.string());
      }
      const bool last = i + 1 == parts.size();
      const bool folder = fs::is_directory(status);
      if (!last && !folder) {
        return BadEntry(name,
                        "is inside '" + shown.string() +
                            "', which an earlier entry made a file; a name is either a file or "
                            "a folder");
      }
      if (last && is_folder && !folder)
        return BadEntry(name, "is a folder, but an earlier entry made it a file");
      if (last && !is_folder && folder)
        return BadEntry(name, "is a file, but an earlier entry made it a folder");
    }
    return absl::OkStatus();
  }

  absl::Status Entry(::archive* reader, archive_entry* entry) {
    std::string name = archive_entry_pathname(entry);
    fs::path rel = fs::path(name).lexically_normal();
    if (rel.is_absolute() || rel.empty() || *rel.begin() == "..") {
      return BadEntry(name, "escapes the folder");
    }
    if (rel == ".") return absl::OkStatus();
    if (absl::Status length = CheckEntryLength(name, rel); !length.ok()) return length;
    auto type = archive_entry_filetype(entry);
    if (type != AE_IFDIR && type != AE_IFREG) {
      return BadEntry(name, "is not a regular file or folder");
    }
    if (absl::Status place = CheckEntryPlace(name, rel, type == AE_IFDIR); !place.ok()) {
      return place;
    }
    const fs::path target = dest_ / rel;
    std::error_code ec;
    if (type == AE_IFDIR) {
      fs::create_directories(target, ec);
      if (ec) return absl::InternalError("cannot create " + target.string() + ": " + ec.message());
      return absl::OkStatus();
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
    int rc;
    while ((rc = archive_read_data_block(reader, &block, &size, &offset)) == ARCHIVE_OK) {
      out.write(static_cast<const char*>(block), static_cast<std::streamsize>(size));
    }
    if (rc != ARCHIVE_EOF) return BadEntry(name, "is truncated");
    out.close();
    if (!out) return absl::InternalError("cannot write " + target.string());
    bool executable = (archive_entry_perm(entry) & 0100) != 0;
    fs::permissions(target, executable ? fs::perms(0755) : fs::perms(0644),
                    fs::perm_options::replace, ec);
    return absl::OkStatus();
  }

  const fs::path dest_;
  const std::string what_;
};

}  // namespace

absl::Status ExtractTar(const std::string& tar_bytes, const fs::path& dest, std::string_view what) {
  return Extractor(dest, what).Run(tar_bytes);
}

}  // namespace berth::archive
