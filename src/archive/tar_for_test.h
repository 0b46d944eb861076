#pragma once
// Builds tar archives for tests, including the unsafe entries a real packer never writes
// (absolute names, "..", links). Test-only, header-only.

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace berth::archive::testing {

struct TarEntry {
  enum class Type { kFile, kFolder, kSymlink };
  std::string name;
  std::string content;  // a file's bytes, or a link's target
  Type type = Type::kFile;
};

inline std::string MakeTar(const std::vector<TarEntry>& entries) {
  std::unique_ptr<::archive, decltype(&archive_write_free)> writer(archive_write_new(),
                                                                   archive_write_free);
  archive_write_set_format_pax_restricted(writer.get());
  std::vector<char> buffer(1 << 20);
  size_t used = 0;
  if (archive_write_open_memory(writer.get(), buffer.data(), buffer.size(), &used) != ARCHIVE_OK) {
    throw std::runtime_error("archive_write_open_memory failed");
  }
  for (const TarEntry& e : entries) {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.name.c_str());
    switch (e.type) {
      case TarEntry::Type::kFile:
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_perm(entry.get(), 0644);
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.content.size()));
        break;
      case TarEntry::Type::kFolder:
        archive_entry_set_filetype(entry.get(), AE_IFDIR);
        archive_entry_set_perm(entry.get(), 0755);
        break;
      case TarEntry::Type::kSymlink:
        archive_entry_set_filetype(entry.get(), AE_IFLNK);
        archive_entry_set_perm(entry.get(), 0777);
        archive_entry_set_symlink(entry.get(), e.content.c_str());
        break;
    }
    archive_write_header(writer.get(), entry.get());
    if (e.type == TarEntry::Type::kFile) {
      archive_write_data(writer.get(), e.content.data(), e.content.size());
    }
  }
  archive_write_close(writer.get());
  return std::string(buffer.data(), used);
}

}  // namespace berth::archive::testing
