#include "gateway/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace berth::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The value of the sample `series` (name and labels exactly as rendered), nullopt if absent.
std::optional<std::string> Value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return line.substr(series.size() + 1);
    }
  }
  return std::nullopt;
}

const std::vector<std::string> kFamilies = {
    "berth_requests_total counter",
    "berth_request_duration_seconds histogram",
    "berth_request_queue_seconds histogram",
    "berth_request_model_seconds histogram",
    "berth_requests_in_flight gauge",
    "berth_requests_queued gauge",
    "berth_throttled_requests_total counter",
    "berth_timed_out_requests_total counter",
    "berth_model_errors_total counter",
    "berth_retried_requests_total counter",
    "berth_mirror_requests_total counter",
    "berth_deployment_desired_instances gauge",
    "berth_deployment_ready_instances gauge",
    "berth_deployment_scaled_to_zero gauge",
    "berth_autoscaler_decisions_total counter",
    "berth_instance_cpu_seconds_total counter",
    "berth_instance_resident_memory_bytes gauge",
    "berth_batch_jobs_total counter",
    "berth_batch_jobs_running gauge",
    "berth_batch_mini_batches_total counter",
};

TEST(MetricsTest, EveryFamilyHasHelpAndTypeWhenEmpty) {
  Metrics metrics;
  std::string text = metrics.RenderPrometheus();
  for (const std::string& family : kFamilies) {
    EXPECT_THAT(text, HasSubstr("# TYPE " + family + "\n"));
    std::string name = family.substr(0, family.find(' '));
    EXPECT_THAT(text, HasSubstr("# HELP " + name + " "));
  }
  // Nothing but HELP and TYPE lines.
  std::istringstream lines(text);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(line[0], '#') << line;
    ++count;
  }
  EXPECT_EQ(count, 2 * static_cast<int>(kFamilies.size()));
}

TEST(MetricsTest, CountsRequestsByCodeAndTheDerivedCounters) {
  Metrics metrics;
  const std::string labels = "endpoint=\"ep\",deployment=\"blue\"";
  for (int i = 0; i < 3; ++i) {
    metrics.RecordRequest({.endpoint = "ep",
                           .deployment = "blue",
                           .status = 200,
                           .seconds = 0.02,
                           .queue_seconds = 0.001,
                           .model_seconds = 0.019,
                           .attempts = 1});
  }
  metrics.RecordRequest({.endpoint = "ep",
                         .deployment = "blue",
                         .status = 429,
                         .seconds = 0.001,
                         .queue_seconds = 0.001});
  metrics.RecordRequest({.endpoint = "ep",
                         .deployment = "blue",
                         .status = 408,
                         .seconds = 5,
                         .queue_seconds = 0.001,
                         .model_seconds = 5,
                         .attempts = 1});
  metrics.RecordRequest({.endpoint = "ep",
                         .deployment = "blue",
                         .status = 424,
                         .seconds = 0.1,
                         .queue_seconds = 0,
                         .model_seconds = 0.1,
                         .attempts = 2});
  metrics.RecordRequest("", "", 401, 0.0001);
  std::string text = metrics.RenderPrometheus();

  EXPECT_EQ(Value(text, "berth_requests_total{" + labels + ",code=\"200\"}"), "3");
  EXPECT_EQ(Value(text, "berth_requests_total{" + labels + ",code=\"429\"}"), "1");
  EXPECT_EQ(Value(text, "berth_requests_total{endpoint=\"\",deployment=\"\",code=\"401\"}"), "1");
  EXPECT_EQ(Value(text, "berth_throttled_requests_total{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_timed_out_requests_total{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_model_errors_total{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_retried_requests_total{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_request_duration_seconds_count{" + labels + "}"), "6");
  EXPECT_EQ(Value(text, "berth_request_queue_seconds_count{" + labels + "}"), "6");
  // Only requests that reached an instance have a model time.
  EXPECT_EQ(Value(text, "berth_request_model_seconds_count{" + labels + "}"), "5");
  // The unauthenticated series has no queue or model time and no derived counters.
  EXPECT_EQ(Value(text, "berth_request_duration_seconds_count{endpoint=\"\",deployment=\"\"}"),
            "1");
  EXPECT_EQ(Value(text, "berth_request_queue_seconds_count{endpoint=\"\",deployment=\"\"}"),
            std::nullopt);
  EXPECT_EQ(Value(text, "berth_throttled_requests_total{endpoint=\"\",deployment=\"\"}"),
            std::nullopt);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics metrics;
  for (double seconds : {0.0004, 0.003, 0.003, 0.005, 100.0, 1000.0}) {
    metrics.RecordRequest("ep", "blue", 200, seconds);
  }
  std::string text = metrics.RenderPrometheus();
  auto bucket = [&](const std::string& le) {
    return Value(text,
                 "berth_request_duration_seconds_bucket{endpoint=\"ep\",deployment=\"blue\","
                 "le=\"" +
                     le + "\"}");
  };
  EXPECT_EQ(bucket("0.0005"), "1");
  EXPECT_EQ(bucket("0.001"), "1");
  EXPECT_EQ(bucket("0.0025"), "1");
  EXPECT_EQ(bucket("0.005"), "4");  // upper bounds are inclusive
  EXPECT_EQ(bucket("10"), "4");
  EXPECT_EQ(bucket("180"), "5");
  EXPECT_EQ(bucket("+Inf"), "6");
  EXPECT_EQ(
      Value(text, "berth_request_duration_seconds_count{endpoint=\"ep\",deployment=\"blue\"}"),
      "6");
  auto sum = Value(text, "berth_request_duration_seconds_sum{endpoint=\"ep\",deployment=\"blue\"}");
  ASSERT_TRUE(sum.has_value());
  EXPECT_NEAR(std::stod(*sum), 1100.0114, 1e-9);
  // Every bucket line is at least the one before it.
  std::istringstream lines(text);
  std::string line;
  long previous = -1;
  while (std::getline(lines, line)) {
    if (line.rfind("berth_request_duration_seconds_bucket{", 0) != 0) continue;
    long value = std::stol(line.substr(line.rfind(' ') + 1));
    if (line.find("le=\"0.0005\"") != std::string::npos) previous = -1;
    EXPECT_GE(value, previous) << line;
    previous = value;
  }
}

TEST(MetricsTest, EscapesLabelValues) {
  Metrics metrics;
  metrics.RecordRequest("a\"b\\c\nd", "x", 200, 0.01);
  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("endpoint=\"a\\\"b\\\\c\\nd\",deployment=\"x\""));
  EXPECT_THAT(text, Not(HasSubstr("c\nd")));
}

TEST(MetricsTest, GaugesAndControlPlaneSeries) {
  Metrics metrics;
  const std::string labels = "endpoint=\"ep\",deployment=\"blue\"";
  metrics.AddInFlight("ep", "blue", 1);
  metrics.AddInFlight("ep", "blue", 1);
  metrics.AddInFlight("ep", "blue", -1);
  metrics.AddQueued("ep", "blue", 3);
  metrics.RecordMirror("ep", "green", "sent");
  metrics.SetInstances("ep", "blue", 2, 1);
  metrics.SetInstances("ep", "green", 0, 0);
  metrics.RecordScaleDecision("ep", "blue", 1, 2);
  metrics.RecordScaleDecision("ep", "blue", 2, 2);  // not a decision
  metrics.RecordScaleDecision("ep", "green", 1, 0);
  metrics.SetInstanceUsage("ep", "blue", 7, 1.5, 4096);
  std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, "berth_requests_in_flight{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_requests_queued{" + labels + "}"), "3");
  EXPECT_EQ(Value(text,
                  "berth_mirror_requests_total{endpoint=\"ep\",deployment=\"green\","
                  "result=\"sent\"}"),
            "1");
  EXPECT_EQ(Value(text, "berth_deployment_desired_instances{" + labels + "}"), "2");
  EXPECT_EQ(Value(text, "berth_deployment_ready_instances{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_deployment_scaled_to_zero{" + labels + "}"), "0");
  EXPECT_EQ(Value(text, "berth_deployment_scaled_to_zero{endpoint=\"ep\",deployment=\"green\"}"),
            "1");
  EXPECT_EQ(Value(text, "berth_autoscaler_decisions_total{" + labels + ",direction=\"up\"}"), "1");
  EXPECT_EQ(Value(text, "berth_autoscaler_decisions_total{" + labels + ",direction=\"down\"}"),
            "0");
  EXPECT_EQ(Value(text,
                  "berth_autoscaler_decisions_total{endpoint=\"ep\",deployment=\"green\","
                  "direction=\"down\"}"),
            "1");
  EXPECT_EQ(Value(text, "berth_instance_cpu_seconds_total{" + labels + ",instance=\"7\"}"), "1.5");
  EXPECT_EQ(Value(text, "berth_instance_resident_memory_bytes{" + labels + ",instance=\"7\"}"),
            "4096");
}

TEST(MetricsTest, BatchSeries) {
  Metrics metrics;
  const std::string labels = "endpoint=\"be\",deployment=\"d1\"";
  metrics.AddBatchJobsRunning("be", "d1", 1);
  metrics.AddBatchJobsRunning("be", "d1", 1);
  metrics.AddBatchJobsRunning("be", "d1", -1);
  metrics.RecordMiniBatch("be", "d1", true);
  metrics.RecordMiniBatch("be", "d1", true);
  metrics.RecordMiniBatch("be", "d1", false);
  metrics.RecordBatchJobEnded("be", "d1", "Completed");
  std::string text = metrics.RenderPrometheus();
  EXPECT_EQ(Value(text, "berth_batch_jobs_running{" + labels + "}"), "1");
  EXPECT_EQ(Value(text, "berth_batch_mini_batches_total{" + labels + ",result=\"succeeded\"}"),
            "2");
  EXPECT_EQ(Value(text, "berth_batch_mini_batches_total{" + labels + ",result=\"failed\"}"), "1");
  EXPECT_EQ(Value(text, "berth_batch_jobs_total{" + labels + ",status=\"Completed\"}"), "1");

  // Online retention leaves batch series alone; RetainBatch drops them.
  metrics.Retain({});
  EXPECT_EQ(Value(metrics.RenderPrometheus(), "berth_batch_jobs_running{" + labels + "}"), "1");
  metrics.RetainBatch({{"be", "other"}});
  EXPECT_THAT(metrics.RenderPrometheus(), Not(HasSubstr("endpoint=\"be\"")));
}

TEST(MetricsTest, RetainDropsSeriesOfDeletedResources) {
  Metrics metrics;
  metrics.RecordRequest("ep", "blue", 200, 0.01);
  metrics.RecordRequest("ep", "green", 200, 0.01);
  metrics.RecordRequest("ep", "", 404, 0.01);
  metrics.RecordRequest("gone", "x", 200, 0.01);
  metrics.RecordRequest("gone", "", 404, 0.01);
  metrics.RecordRequest("", "", 401, 0.01);
  metrics.SetInstanceUsage("ep", "green", 3, 1, 1);
  metrics.Retain({{"ep", "blue"}});
  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("endpoint=\"ep\",deployment=\"blue\""));
  EXPECT_THAT(text, HasSubstr("endpoint=\"ep\",deployment=\"\""));
  EXPECT_THAT(text, HasSubstr("endpoint=\"\",deployment=\"\""));
  EXPECT_THAT(text, Not(HasSubstr("deployment=\"green\"")));
  EXPECT_THAT(text, Not(HasSubstr("endpoint=\"gone\"")));

  // A dropped series starts again from zero.
  metrics.RecordRequest("ep", "green", 200, 0.01);
  EXPECT_EQ(Value(metrics.RenderPrometheus(),
                  "berth_requests_total{endpoint=\"ep\",deployment=\"green\",code=\"200\"}"),
            "1");
}

TEST(MetricsTest, RetainInstancesDropsUsageOfGoneInstances) {
  Metrics metrics;
  metrics.SetInstanceUsage("ep", "blue", 1, 1, 100);
  metrics.SetInstanceUsage("ep", "blue", 2, 2, 200);
  metrics.SetInstanceUsage("ep", "green", 3, 3, 300);
  metrics.RetainInstances("ep", "blue", {2});
  metrics.RetainInstances("nope", "x", {});  // unknown: nothing happens
  std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(text, Not(HasSubstr("instance=\"1\"")));
  EXPECT_THAT(text, HasSubstr("instance=\"2\""));
  EXPECT_THAT(text, HasSubstr("instance=\"3\""));
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  Metrics metrics;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string deployment = (i % 2 == 0) ? "blue" : "green";
        metrics.AddInFlight("ep", deployment, 1);
        metrics.RecordRequest({.endpoint = "ep",
                               .deployment = deployment,
                               .status = 200,
                               .seconds = 0.001,
                               .queue_seconds = 0,
                               .model_seconds = 0.001,
                               .attempts = 1});
        metrics.AddInFlight("ep", deployment, -1);
        if (t == 0 && i % 500 == 0) metrics.RenderPrometheus();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::string text = metrics.RenderPrometheus();
  for (const char* deployment : {"blue", "green"}) {
    std::string labels = std::string("endpoint=\"ep\",deployment=\"") + deployment + "\"";
    EXPECT_EQ(Value(text, "berth_requests_total{" + labels + ",code=\"200\"}"),
              std::to_string(kThreads * kPerThread / 2));
    EXPECT_EQ(Value(text, "berth_requests_in_flight{" + labels + "}"), "0");
  }
}

// Debian's prometheus package brings promtool; the check is skipped where it is absent.
TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  const char* promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) != 0) GTEST_SKIP() << "promtool is not installed";
  Metrics metrics;
  metrics.RecordRequest({.endpoint = "ep",
                         .deployment = "blue",
                         .status = 200,
                         .seconds = 0.01,
                         .queue_seconds = 0.001,
                         .model_seconds = 0.009,
                         .attempts = 2});
  metrics.RecordRequest("", "", 401, 0.0001);
  metrics.AddInFlight("ep", "blue", 0);
  metrics.RecordMirror("ep", "green", "dropped");
  metrics.SetInstances("ep", "blue", 1, 1);
  metrics.RecordScaleDecision("ep", "blue", 0, 1);
  metrics.SetInstanceUsage("ep", "blue", 1, 0.25, 1 << 20);
  metrics.RecordBatchJobEnded("be", "d", "Failed");
  metrics.RecordMiniBatch("be", "d", false);
  metrics.AddBatchJobsRunning("be", "d", 0);

  std::filesystem::path dir = testing::TempDir();
  std::filesystem::path input = dir / "metrics_promtool_input.txt";
  std::filesystem::path output = dir / "metrics_promtool_output.txt";
  std::ofstream(input) << metrics.RenderPrometheus();
  std::string command = std::string(promtool) + " check metrics < " + input.string() + " > " +
                        output.string() + " 2>&1";
  int rc = std::system(command.c_str());
  std::ifstream read(output);
  std::string complaints((std::istreambuf_iterator<char>(read)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << complaints;
  EXPECT_EQ(complaints, "");
}

}  // namespace
}  // namespace berth::gateway
