#include "gateway/access_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace berth::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::filesystem::path FreshDir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::vector<std::string> Lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

AccessLogEntry Entry(int n) {
  AccessLogEntry entry;
  entry.time = SystemTime{} + std::chrono::seconds(1714564800) + std::chrono::milliseconds(123);
  entry.request_id = "req-" + std::to_string(n);
  entry.protocol = "http";
  entry.method = "POST";
  entry.path = "/endpoints/ep/score";
  entry.endpoint = "ep";
  entry.deployment = "blue";
  entry.instance = 4;
  entry.status = 200;
  entry.queue_ms = 0.25;
  entry.model_ms = 12.5;
  entry.total_ms = 13.0004;
  entry.attempts = 1;
  entry.bytes_in = 17;
  entry.bytes_out = 230;
  return entry;
}

TEST(AccessLogTest, FormatsOneJsonObjectWithEveryField) {
  std::string line = FormatAccessLogLine(Entry(1));
  EXPECT_EQ(line,
            "{\"time\":\"2024-05-01T12:00:00.123Z\",\"request_id\":\"req-1\",\"protocol\":\"http\","
            "\"method\":\"POST\",\"path\":\"/endpoints/ep/score\",\"endpoint\":\"ep\","
            "\"deployment\":\"blue\",\"instance\":4,\"status\":200,\"queue_ms\":0.25,"
            "\"model_ms\":12.5,\"total_ms\":13,\"attempts\":1,\"bytes_in\":17,"
            "\"bytes_out\":230}");
}

TEST(AccessLogTest, EscapesAndReplacesInvalidText) {
  AccessLogEntry entry = Entry(1);
  entry.path = "/a\"b\n\xff";
  std::string line = FormatAccessLogLine(entry);
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["path"], "/a\"b\n\xEF\xBF\xBD");
  // Valid UTF-8 passes through; overlong forms, surrogates and cut sequences do not.
  entry.path = "/\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|\xC0\xAF|\xED\xA0\x80|\xE2\x82|\\";
  parsed = nlohmann::json::parse(FormatAccessLogLine(entry));
  EXPECT_EQ(parsed["path"],
            "/\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|\xEF\xBF\xBD\xEF\xBF\xBD|"
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD|\xEF\xBF\xBD\xEF\xBF\xBD|\\");
}

TEST(AccessLogTest, WritesLinesThatReadBack) {
  std::filesystem::path dir = FreshDir("access_log_read_back");
  {
    auto log = RotatingAccessLog::Open({.path = dir / "logs" / "access.log"});
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 100; ++i) (*log)->Write(Entry(i));
  }  // closing writes what is queued
  std::vector<std::string> lines = Lines(dir / "logs" / "access.log");
  ASSERT_EQ(lines.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    auto parsed = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(parsed["request_id"], "req-" + std::to_string(i));
    EXPECT_EQ(parsed["status"], 200);
  }
}

TEST(AccessLogTest, LinesAreVisibleWhileTheLogIsOpen) {
  std::filesystem::path dir = FreshDir("access_log_visible");
  auto log = RotatingAccessLog::Open({.path = dir / "access.log"});
  ASSERT_TRUE(log.ok()) << log.status();
  (*log)->Write(Entry(7));
  // Written by a background thread: poll with a deadline.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Lines(dir / "access.log").empty() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_THAT(Lines(dir / "access.log"), ElementsAre(HasSubstr("\"request_id\":\"req-7\"")));
}

TEST(AccessLogTest, RotatesAtTheSizeAndKeepsTheFileCount) {
  std::filesystem::path dir = FreshDir("access_log_rotation");
  const size_t line_bytes = FormatAccessLogLine(Entry(10)).size() + 1;
  const uint64_t max_bytes = 10 * line_bytes;  // ten lines of "req-NN" per file
  {
    auto log = RotatingAccessLog::Open(
        {.path = dir / "access.log", .max_bytes = max_bytes, .rotated_files = 2});
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 10; i < 45; ++i) (*log)->Write(Entry(i));
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "access.1.log"));
  EXPECT_TRUE(std::filesystem::exists(dir / "access.2.log"));
  EXPECT_FALSE(std::filesystem::exists(dir / "access.3.log"));
  for (const char* name : {"access.log", "access.1.log", "access.2.log"}) {
    EXPECT_LE(std::filesystem::file_size(dir / name), max_bytes) << name;
  }
  // 35 lines: the newest 5 in the current file, 10 in each rotated one, the oldest 10 gone.
  std::vector<std::string> current = Lines(dir / "access.log");
  ASSERT_EQ(current.size(), 5u);
  EXPECT_THAT(current.back(), HasSubstr("req-44"));
  std::vector<std::string> newest_rotated = Lines(dir / "access.1.log");
  ASSERT_EQ(newest_rotated.size(), 10u);
  EXPECT_THAT(newest_rotated.front(), HasSubstr("req-30"));
}

TEST(AccessLogTest, OpenFailsWhereTheFileCannotBeCreated) {
  std::filesystem::path dir = FreshDir("access_log_blocked");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  auto log = RotatingAccessLog::Open({.path = dir / "file" / "access.log"});
  EXPECT_FALSE(log.ok());
}

}  // namespace
}  // namespace berth::gateway
