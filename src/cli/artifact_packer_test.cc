#include "cli/artifact_packer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct TarEntry {
  std::string path;
  int mode;
  bool directory;
  std::string contents;
  long mtime;
  long uid;
  long gid;
  std::string uname;
};

std::vector<TarEntry> ReadTar(const std::string& tar) {
  std::vector<TarEntry> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  struct archive_entry* entry;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    TarEntry e;
    e.path = archive_entry_pathname(entry);
    e.mode = archive_entry_perm(entry);
    e.directory = archive_entry_filetype(entry) == AE_IFDIR;
    e.mtime = archive_entry_mtime(entry);
    e.uid = archive_entry_uid(entry);
    e.gid = archive_entry_gid(entry);
    e.uname = archive_entry_uname(entry) ? archive_entry_uname(entry) : "";
    std::string data(static_cast<size_t>(archive_entry_size(entry)), '\0');
    if (!data.empty()) archive_read_data(a, data.data(), data.size());
    e.contents = data;
    out.push_back(e);
  }
  archive_read_free(a);
  return out;
}

std::vector<std::string> Paths(const std::vector<TarEntry>& entries) {
  std::vector<std::string> out;
  for (const TarEntry& e : entries) out.push_back(e.path);
  return out;
}

// Packs in a forked process, so a process id in the archive would change the digest.
std::string DigestInChildProcess(const fs::path& path) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    absl::StatusOr<PackedArtifact> packed = PackArtifact(path);
    std::string digest = packed.ok() ? packed->digest : "error";
    ssize_t written = ::write(fds[1], digest.data(), digest.size());
    ::_exit(written == static_cast<ssize_t>(digest.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string digest;
  char buffer[128];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) digest.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return digest;
}

class ArtifactPackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("berth_packer_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "model");
    Write("model/score.py", "def init():\n    pass\n");
    Write("model/weights/w.bin", std::string("\0\1\2", 3));
    Write("model/run.sh", "#!/bin/sh\n");
    fs::permissions(root_ / "model/run.sh", fs::perms::owner_exec, fs::perm_options::add);
    Write("model/__pycache__/score.cpython-311.pyc", "junk");
    Write("model/.git/HEAD", "ref: refs/heads/main\n");
    fs::create_directories(root_ / "model/empty");
  }
  void TearDown() override { fs::remove_all(root_); }

  void Write(const std::string& relative, const std::string& contents) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative, std::ios::binary) << contents;
  }

  fs::path root_;
};

TEST_F(ArtifactPackerTest, PacksFolderRelativeSortedAndSkipsCaches) {
  absl::StatusOr<PackedArtifact> packed = PackArtifact(root_ / "model");
  ASSERT_TRUE(packed.ok()) << packed.status();
  EXPECT_EQ(packed->base_name, "model");
  EXPECT_FALSE(packed->is_file);
  std::vector<TarEntry> entries = ReadTar(packed->tar);
  EXPECT_THAT(Paths(entries),
              ElementsAre("empty/", "run.sh", "score.py", "weights/", "weights/w.bin"));
  for (const TarEntry& e : entries) {
    EXPECT_EQ(e.mtime, 0) << e.path;
    EXPECT_EQ(e.uid, 0) << e.path;
    EXPECT_EQ(e.gid, 0) << e.path;
    EXPECT_EQ(e.uname, "") << e.path;
    if (e.directory) {
      EXPECT_EQ(e.mode, 0755) << e.path;
    } else if (e.path == "run.sh") {
      EXPECT_EQ(e.mode, 0755);
    } else {
      EXPECT_EQ(e.mode, 0644) << e.path;
    }
  }
  EXPECT_EQ(entries[2].contents, "def init():\n    pass\n");
  EXPECT_EQ(entries[4].contents, std::string("\0\1\2", 3));
}

TEST_F(ArtifactPackerTest, SameFolderSameDigest) {
  absl::StatusOr<PackedArtifact> first = PackArtifact(root_ / "model");
  // Touching files (new mtimes) and a trailing slash change nothing.
  Write("model/score.py", "def init():\n    pass\n");
  absl::StatusOr<PackedArtifact> second = PackArtifact((root_ / "model").string() + "/");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->digest, second->digest);
  EXPECT_EQ(first->tar, second->tar);
  EXPECT_EQ(second->base_name, "model");
  EXPECT_THAT(first->digest, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(first->digest, Sha256Digest(first->tar));
}

TEST_F(ArtifactPackerTest, ChangedFileChangesDigest) {
  absl::StatusOr<PackedArtifact> first = PackArtifact(root_ / "model");
  Write("model/score.py", "def init():\n    return 1\n");
  absl::StatusOr<PackedArtifact> second = PackArtifact(root_ / "model");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->digest, second->digest);
}

TEST_F(ArtifactPackerTest, ModeChangeChangesDigest) {
  absl::StatusOr<PackedArtifact> first = PackArtifact(root_ / "model");
  fs::permissions(root_ / "model/score.py", fs::perms::owner_exec, fs::perm_options::add);
  absl::StatusOr<PackedArtifact> second = PackArtifact(root_ / "model");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->digest, second->digest);
}

TEST_F(ArtifactPackerTest, LongNamesAreDeterministic) {
  std::string long_name = "model/" + std::string(120, 'a') + "/" + std::string(120, 'b') + ".txt";
  Write(long_name, "x");
  absl::StatusOr<PackedArtifact> first = PackArtifact(root_ / "model");
  absl::StatusOr<PackedArtifact> second = PackArtifact(root_ / "model");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->digest, second->digest);
  // Nothing of the process (pax header names once held the pid) leaks into the bytes.
  EXPECT_EQ(DigestInChildProcess(root_ / "model"), first->digest);
  EXPECT_THAT(Paths(ReadTar(first->tar)),
              ::testing::Contains(long_name.substr(std::string("model/").size())));
}

TEST_F(ArtifactPackerTest, SingleFileIsOneEntry) {
  absl::StatusOr<PackedArtifact> packed = PackArtifact(root_ / "model/score.py");
  ASSERT_TRUE(packed.ok()) << packed.status();
  EXPECT_TRUE(packed->is_file);
  EXPECT_EQ(packed->base_name, "score.py");
  std::vector<TarEntry> entries = ReadTar(packed->tar);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].path, "score.py");
  EXPECT_EQ(entries[0].mode, 0644);
  EXPECT_EQ(entries[0].contents, "def init():\n    pass\n");
}

TEST_F(ArtifactPackerTest, SymlinkIsRefusedNamingTheLink) {
  fs::create_symlink(root_ / "model/score.py", root_ / "model/link.py");
  absl::StatusOr<PackedArtifact> packed = PackArtifact(root_ / "model");
  ASSERT_FALSE(packed.ok());
  EXPECT_EQ(packed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(packed.status().message(), HasSubstr((root_ / "model/link.py").string()));
  EXPECT_THAT(packed.status().message(), HasSubstr("symbolic link"));
}

TEST_F(ArtifactPackerTest, SymlinkedFolderIsRefused) {
  fs::create_directory_symlink(root_ / "model/weights", root_ / "model/more");
  absl::StatusOr<PackedArtifact> packed = PackArtifact(root_ / "model");
  ASSERT_FALSE(packed.ok());
  EXPECT_THAT(packed.status().message(), HasSubstr("model/more"));
}

TEST_F(ArtifactPackerTest, MissingPathIsNotFound) {
  absl::StatusOr<PackedArtifact> packed = PackArtifact(root_ / "nope");
  ASSERT_FALSE(packed.ok());
  EXPECT_EQ(packed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(packed.status().message(), HasSubstr((root_ / "nope").string()));
}

TEST(Sha256DigestTest, KnownValue) {
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace berth::cli
