#include "archive/tar_builder.h"

#include <archive_entry.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "common/status_macros.h"

namespace berth::archive {

namespace fs = std::filesystem;

TarBuilder::TarBuilder() : archive_(archive_write_new(), archive_write_free) {
  archive_write_set_format_pax_restricted(archive_.get());
  archive_write_set_bytes_in_last_block(archive_.get(), 1);
  archive_write_open(archive_.get(), &out_, nullptr, &Append, nullptr);
}

absl::Status TarBuilder::AddTree(const fs::path& root, const std::string& prefix) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& file : files) {
    RETURN_IF_ERROR(AddFile(file, prefix + "/" + file.lexically_relative(root).string()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TarBuilder::Finish() {
  if (archive_write_close(archive_.get()) != ARCHIVE_OK) {
    return absl::InternalError(std::string("cannot finish the tar: ") +
                               archive_error_string(archive_.get()));
  }
  return std::move(out_);
}

la_ssize_t TarBuilder::Append(struct archive*, void* client, const void* buffer, size_t length) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

absl::Status TarBuilder::AddFile(const fs::path& file, const std::string& name) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  if (!in || ec) return absl::InternalError("cannot read " + file.string());
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                      archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  if (archive_write_header(archive_.get(), entry.get()) != ARCHIVE_OK) {
    return absl::InternalError("cannot add " + name +
                               " to the tar: " + archive_error_string(archive_.get()));
  }
  // Exactly `size` bytes, even if the file grows meanwhile (a running job's log).
  std::string block(64 * 1024, '\0');
  uintmax_t left = size;
  while (left > 0 && in) {
    in.read(block.data(), static_cast<std::streamsize>(std::min<uintmax_t>(left, block.size())));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    archive_write_data(archive_.get(), block.data(), static_cast<size_t>(got));
    left -= static_cast<uintmax_t>(got);
  }
  return absl::OkStatus();
}

}  // namespace berth::archive
