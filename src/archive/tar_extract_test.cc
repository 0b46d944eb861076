#include "archive/tar_extract.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "archive/tar_for_test.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::archive {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::MakeTar;
using testing::TarEntry;
using Type = TarEntry::Type;

class TarExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("berth_tar_extract_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Read(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path dir_;
};

TEST_F(TarExtractTest, WritesFilesAndFoldersBelowTheDestination) {
  const fs::path dest = dir_ / "out";
  ASSERT_TRUE(ExtractTar(MakeTar({{"named-outputs/", "", Type::kFolder},
                                  {"named-outputs/score/predictions.csv", "a 1\nb 2\n"},
                                  {"./empty/", "", Type::kFolder}}),
                         dest, "download")
                  .ok());
  EXPECT_EQ(Read(dest / "named-outputs/score/predictions.csv"), "a 1\nb 2\n");
  EXPECT_TRUE(fs::is_directory(dest / "empty"));

  // Again over what is there: files are overwritten.
  ASSERT_TRUE(
      ExtractTar(MakeTar({{"named-outputs/score/predictions.csv", "new\n"}}), dest, "download")
          .ok());
  EXPECT_EQ(Read(dest / "named-outputs/score/predictions.csv"), "new\n");
}

TEST_F(TarExtractTest, RefusesUnsafeEntries) {
  const fs::path dest = dir_ / "out";
  auto refused = [&](const std::vector<TarEntry>& entries) {
    absl::Status status = ExtractTar(MakeTar(entries), dest, "download");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    return std::string(status.message());
  };
  EXPECT_THAT(refused({{"../evil", "x"}}), HasSubstr("download entry '../evil' escapes"));
  EXPECT_THAT(refused({{"a/../../evil", "x"}}), HasSubstr("escapes the folder"));
  EXPECT_THAT(refused({{"/etc/evil", "x"}}), HasSubstr("escapes the folder"));
  EXPECT_THAT(refused({{"link", "/etc", Type::kSymlink}}),
              HasSubstr("'link' is not a regular file or folder"));
  EXPECT_FALSE(fs::exists(dir_ / "evil"));

  // A symbolic link already in the destination is not written through.
  fs::create_directories(dest);
  fs::create_directories(dir_ / "elsewhere");
  fs::create_directory_symlink(dir_ / "elsewhere", dest / "named-outputs");
  EXPECT_THAT(refused({{"named-outputs/score.csv", "x"}}),
              HasSubstr("through the symbolic link 'named-outputs'"));
  EXPECT_TRUE(fs::is_empty(dir_ / "elsewhere"));

  EXPECT_THAT(std::string(ExtractTar("not a tar", dest, "download").message()),
              HasSubstr("download"));
}

}  // namespace
}  // namespace berth::archive
