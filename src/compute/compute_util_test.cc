#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "compute/compute_driver.h"
#include "gtest/gtest.h"

namespace berth::compute {
namespace {

namespace fs = std::filesystem;

class TailLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-tail-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    log_ = dir_ / "instance.log";
    rotated_ = dir_ / "instance.log.1";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static void Write(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  fs::path dir_, log_, rotated_;
};

TEST_F(TailLogTest, AbsentFileIsEmpty) { EXPECT_EQ(TailLog(log_, 10), ""); }

TEST_F(TailLogTest, LastLinesOldestFirst) {
  Write(log_, "a\nb\nc\nd\n");
  EXPECT_EQ(TailLog(log_, 2), "c\nd\n");
  EXPECT_EQ(TailLog(log_, 4), "a\nb\nc\nd\n");
  EXPECT_EQ(TailLog(log_, 100), "a\nb\nc\nd\n");
  EXPECT_EQ(TailLog(log_, 0), "");
  EXPECT_EQ(TailLog(log_, -1), "");
}

TEST_F(TailLogTest, UnterminatedLastLineCounts) {
  Write(log_, "a\nb\nc");
  EXPECT_EQ(TailLog(log_, 1), "c");
  EXPECT_EQ(TailLog(log_, 2), "b\nc");
}

TEST_F(TailLogTest, EmptyLinesCount) {
  Write(log_, "a\n\n\n");
  EXPECT_EQ(TailLog(log_, 2), "\n\n");
}

TEST_F(TailLogTest, ReadsOnlyTheEndOfLargeFiles) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += "line " + std::to_string(i) + "\n";
  Write(log_, text);
  EXPECT_EQ(TailLog(log_, 3), "line 199997\nline 199998\nline 199999\n");
}

TEST_F(TailLogTest, LongLineAcrossBlocks) {
  std::string long_line(100000, 'x');
  Write(log_, "first\n" + long_line + "\nlast\n");
  EXPECT_EQ(TailLog(log_, 2), long_line + "\nlast\n");
}

TEST_F(TailLogTest, IncludesRotatedFileWhenCurrentIsShort) {
  Write(rotated_, "1\n2\n3\n");
  Write(log_, "4\n5\n");
  EXPECT_EQ(TailLog(log_, 2), "4\n5\n");
  EXPECT_EQ(TailLog(log_, 3), "3\n4\n5\n");
  EXPECT_EQ(TailLog(log_, 10), "1\n2\n3\n4\n5\n");
}

TEST_F(TailLogTest, LineSplitByRotationIsJoined) {
  Write(rotated_, "1\nhal");
  Write(log_, "f\n2\n");
  EXPECT_EQ(TailLog(log_, 2), "half\n2\n");
}

TEST_F(TailLogTest, EmptyCurrentFileAfterRotation) {
  Write(rotated_, "1\n2\n");
  Write(log_, "");
  EXPECT_EQ(TailLog(log_, 1), "2\n");
}

}  // namespace
}  // namespace berth::compute
