#include "cli/job_progress.h"

#include <deque>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace berth::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

json Progress(int mb_total, int mb_ok, int mb_failed, int items_total, int items_ok,
              int items_failed) {
  return {{"mini_batches",
           {{"total", mb_total}, {"succeeded", mb_ok}, {"failed", mb_failed}, {"running", 0}}},
          {"items", {{"total", items_total}, {"succeeded", items_ok}, {"failed", items_failed}}}};
}

TEST(JobProgressTest, FormatsEtaInWholeSecondsRoundedUp) {
  EXPECT_EQ(FormatEta(0), "0s");
  EXPECT_EQ(FormatEta(-3), "0s");
  EXPECT_EQ(FormatEta(2.4), "3s");
  EXPECT_EQ(FormatEta(59), "59s");
  EXPECT_EQ(FormatEta(65), "1m05s");
  EXPECT_EQ(FormatEta(3599.5), "1h00m");
  EXPECT_EQ(FormatEta(7380), "2h03m");
}

TEST(JobProgressTest, BarAtZeroAndHundredPercent) {
  EXPECT_EQ(FormatProgressBar(ParseJobProgress(Progress(10, 0, 0, 50, 0, 0))),
            "[....................]   0% | mini-batches 0/10 | items 0/50 | failed 0");
  json done = Progress(10, 9, 1, 50, 45, 5);
  done["items_per_second"] = 12.5;
  done["eta_seconds"] = 0;
  EXPECT_EQ(FormatProgressBar(ParseJobProgress(done)),
            "[####################] 100% | mini-batches 10/10 | items 50/50 | failed 5 | "
            "12.5 items/s | ETA 0s");
}

TEST(JobProgressTest, BarInTheMiddleWithRateAndEta) {
  json p = Progress(10, 4, 0, 50, 20, 0);
  p["items_per_second"] = 12.5;
  p["eta_seconds"] = 2.4;
  p["workers"] = 4;
  EXPECT_EQ(FormatProgressBar(ParseJobProgress(p)),
            "[########............]  40% | mini-batches 4/10 | items 20/50 | failed 0 | "
            "12.5 items/s | ETA 3s");
  EXPECT_EQ(FormatProgressLine(ParseJobProgress(p)),
            "progress: mini-batches 4/10, items 20/50, failed 0, 12.5 items/s, ETA 3s");
}

TEST(JobProgressTest, UnknownTotals) {
  // Before the input is listed: no totals, no rate, no ETA.
  EXPECT_EQ(FormatProgressBar(ParseJobProgress(json::object())),
            "[....................]   ?% | mini-batches 0/? | items 0/? | failed 0");
  EXPECT_EQ(FormatProgressLine(ParseJobProgress(json())),
            "progress: mini-batches 0/?, items 0/?, failed 0");
  // Items known, mini-batches not: the share comes from the items.
  json p = {{"items", {{"total", 4}, {"succeeded", 1}, {"failed", 1}}}};
  EXPECT_EQ(PercentDone(ParseJobProgress(p)), 50);
  // Failed mini-batches count as failed when items are unknown.
  json q = {{"mini_batches", {{"total", 0}, {"succeeded", 2}, {"failed", 1}}}};
  EXPECT_EQ(FormatProgressLine(ParseJobProgress(q)),
            "progress: mini-batches 3/?, items 0/?, failed 1");
  // Garbage stays unknown rather than throwing.
  json bad = {{"mini_batches", "x"}, {"items_per_second", "fast"}, {"eta_seconds", -1}};
  EXPECT_EQ(ParseJobProgress(bad), JobProgress{});
}

TEST(JobProgressTest, TableCell) {
  EXPECT_EQ(FormatProgressCell({{"progress", Progress(10, 4, 0, 50, 20, 0)}}), "4/10 (40%)");
  EXPECT_EQ(FormatProgressCell({{"progress", json::object()}}), "0/?");
  EXPECT_EQ(FormatProgressCell({{"name", "j"}}), "");
}

// A scripted berthd: each poll takes the next answer and records the offset asked for.
struct ScriptedLog {
  std::deque<absl::StatusOr<json>> answers;
  std::vector<int64_t> offsets;
  JobLogPollFn Poll() {
    return [this](int64_t offset) -> absl::StatusOr<json> {
      offsets.push_back(offset);
      if (answers.empty()) return absl::InternalError("polled past the script");
      absl::StatusOr<json> next = answers.front();
      answers.pop_front();
      return next;
    };
  }
};

json LogAnswer(int64_t offset, const std::string& text, const std::string& status,
               const json& progress = json()) {
  json job = {{"name", "j"}, {"status", status}};
  if (!progress.is_null()) job["progress"] = progress;
  return {{"offset", offset}, {"text", text}, {"job", job}};
}

class StreamJobLogTest : public ::testing::Test {
 protected:
  WaitEnv Env(bool live) {
    WaitEnv env;
    env.clock = &clock_;
    env.sleep = [this](std::chrono::milliseconds d) {
      ++sleeps_;
      clock_.Advance(d);
    };
    env.interval = kJobStreamInterval;
    env.progress = &err_;
    env.live = live;
    return env;
  }

  ManualClock clock_;
  int sleeps_ = 0;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(StreamJobLogTest, CopiesTheLogAndDrainsItAfterTheEnd) {
  ScriptedLog log;
  log.answers = {LogAnswer(6, "start\n", "Queued"),
                 LogAnswer(8, "a\n", "Running", Progress(10, 4, 0, 50, 20, 0)),
                 LogAnswer(13, "done\n", "Completed", Progress(10, 10, 0, 50, 50, 0)),
                 LogAnswer(18, "tail\n", "Completed", Progress(10, 10, 0, 50, 50, 0)),
                 LogAnswer(18, "", "Completed", Progress(10, 10, 0, 50, 50, 0))};
  absl::StatusOr<json> job = StreamJobLog(log.Poll(), Env(false), out_);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ((*job)["status"], "Completed");
  EXPECT_EQ(out_.str(), "start\na\ndone\ntail\n");
  EXPECT_EQ(log.offsets, (std::vector<int64_t>{0, 6, 8, 13, 18}));
  EXPECT_EQ(sleeps_, 2);  // none while draining
}

TEST_F(StreamJobLogTest, RetriesUnavailableForAWhileOnly) {
  ScriptedLog log;
  log.answers = {absl::UnavailableError("restarting"), LogAnswer(0, "", "Canceled"),
                 LogAnswer(0, "", "Canceled")};
  ASSERT_TRUE(StreamJobLog(log.Poll(), Env(false), out_).ok());

  ScriptedLog down;
  for (int i = 0; i < 200; ++i) down.answers.push_back(absl::UnavailableError("down"));
  absl::StatusOr<json> job = StreamJobLog(down.Poll(), Env(false), out_, std::chrono::seconds(5));
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LE(down.offsets.size(), 12u);

  ScriptedLog gone;
  gone.answers = {absl::NotFoundError("no job j")};
  EXPECT_EQ(StreamJobLog(gone.Poll(), Env(false), out_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StreamJobLogTest, LiveBarIsClearedBeforeLogText) {
  ScriptedLog log;
  log.answers = {LogAnswer(0, "", "Running", Progress(10, 4, 0, 50, 20, 0)),
                 LogAnswer(2, "a\n", "Completed", Progress(10, 10, 0, 50, 50, 0)),
                 LogAnswer(2, "", "Completed", Progress(10, 10, 0, 50, 50, 0))};
  ASSERT_TRUE(StreamJobLog(log.Poll(), Env(true), out_).ok());
  EXPECT_THAT(err_.str(), HasSubstr("\rRunning [########............]  40%"));
  EXPECT_THAT(err_.str(), HasSubstr("\r\x1b[K"));  // cleared for the log line
  EXPECT_THAT(err_.str(), HasSubstr("\rCompleted [####################] 100%"));
  EXPECT_EQ(err_.str().back(), '\n');
  EXPECT_THAT(err_.str(), Not(HasSubstr("progress:")));
}

}  // namespace
}  // namespace berth::cli
