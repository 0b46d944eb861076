#include "compute/local/rotating_log.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace berth::compute::local {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class RotatingLogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-rotate-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ / "nested" / "instance.log";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_, path_;
};

TEST_F(RotatingLogFileTest, AppendsToExistingFileAndCreatesFolders) {
  fs::create_directories(path_.parent_path());
  std::ofstream(path_) << "old\n";
  auto log = RotatingLogFile::Open(path_, 0);
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Append("new\n");
  EXPECT_EQ(ReadFile(path_), "old\nnew\n");

  auto other = RotatingLogFile::Open(dir_ / "a" / "b" / "c.log", 0);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(fs::exists(dir_ / "a" / "b" / "c.log"));
}

TEST_F(RotatingLogFileTest, RotatesAtLineBoundaries) {
  auto log = RotatingLogFile::Open(path_, 10);
  ASSERT_TRUE(log.ok());
  (*log)->Append("aaaa\nbbbb\ncc");  // 12 bytes: the first two lines fill the file
  (*log)->Append("\ndd\n");
  EXPECT_EQ(ReadFile(RotatedLogPath(path_)), "aaaa\nbbbb\n");
  EXPECT_EQ(ReadFile(path_), "cc\ndd\n");
  (*log)->Append("eeeeeee\n");  // does not fit after "cc\ndd\n": a new file starts
  EXPECT_EQ(ReadFile(RotatedLogPath(path_)), "cc\ndd\n");
  EXPECT_EQ(ReadFile(path_), "eeeeeee\n");
}

TEST_F(RotatingLogFileTest, SplitsLinesLongerThanAFile) {
  auto log = RotatingLogFile::Open(path_, 4);
  ASSERT_TRUE(log.ok());
  (*log)->Append("0123456789\n");
  EXPECT_EQ(ReadFile(RotatedLogPath(path_)), "4567");
  EXPECT_EQ(ReadFile(path_), "89\n");
}

TEST_F(RotatingLogFileTest, EmptyPathIsInvalid) {
  EXPECT_EQ(RotatingLogFile::Open("", 0).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::compute::local
