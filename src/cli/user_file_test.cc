// ReadUserFile refuses what is not a regular file, or too large, at once and naming the file.

#include "cli/user_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class UserFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("berth_user_file_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(UserFileTest, ReadsARegularFile) {
  std::ofstream(dir_ / "spec.yml") << "name: ep1\n";
  absl::StatusOr<std::string> text = ReadUserFile(dir_ / "spec.yml", kMaxSpecFileBytes);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "name: ep1\n");
}

TEST_F(UserFileTest, MissingFileIsNotFound) {
  absl::StatusOr<std::string> text = ReadUserFile(dir_ / "absent.yml", kMaxSpecFileBytes);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(text.status().message(), (dir_ / "absent.yml").string() + ": no such file");
}

TEST_F(UserFileTest, DevZeroIsRefusedWithoutReading) {
  absl::StatusOr<std::string> text = ReadUserFile("/dev/zero", kMaxSpecFileBytes);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(),
            "/dev/zero: a character device, not a regular file; give a file");
}

TEST_F(UserFileTest, FolderIsRefused) {
  absl::StatusOr<std::string> text = ReadUserFile(dir_, kMaxSpecFileBytes);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(text.status().message()),
              StartsWith(dir_.string() + ": a folder, not a regular"));
}

TEST_F(UserFileTest, FifoIsRefusedWithoutWaitingForAWriter) {
  const fs::path fifo = dir_ / "pipe.yml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto read = std::async(std::launch::async, [&] { return ReadUserFile(fifo, kMaxSpecFileBytes); });
  if (read.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "ReadUserFile blocked on a FIFO";
    // Opening the write end releases a reader blocked in open().
    int writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (writer >= 0) ::close(writer);
  }
  absl::StatusOr<std::string> text = read.get();
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(),
            fifo.string() + ": a FIFO (named pipe), not a regular file; give a file");
}

TEST_F(UserFileTest, OversizedFileIsRefusedNamingTheLimit) {
  const fs::path big = dir_ / "big.yml";
  { std::ofstream(big) << "x"; }
  // Sparse: no disk space used.
  fs::resize_file(big, kMaxSpecFileBytes + (1ull << 20));
  absl::StatusOr<std::string> text = ReadUserFile(big, kMaxSpecFileBytes);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(),
            big.string() + ": the file is 17 MiB; berth reads files of at most 16 MiB");

  fs::resize_file(big, kMaxSpecFileBytes);
  absl::StatusOr<std::string> at_limit = ReadUserFile(big, kMaxSpecFileBytes);
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  EXPECT_EQ(at_limit->size(), kMaxSpecFileBytes);

  // Request files may be larger, up to berthd's default body limit.
  fs::resize_file(big, kMaxRequestFileBytes + 1);
  EXPECT_THAT(ReadUserFile(big, kMaxRequestFileBytes).status().message(),
              HasSubstr("the file is 104857601 bytes; berth reads files of at most 100 MiB"));
}

}  // namespace
}  // namespace berth::cli
