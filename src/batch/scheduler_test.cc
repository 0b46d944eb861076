#include "batch/scheduler.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "batch/fake_batch_worker.h"
#include "state/memory/memory_state_store.h"
#include "state/test_temp_dir.h"

namespace berth::batch {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

core::BatchDeploymentSpec Deployment() {
  core::BatchDeploymentSpec spec;
  spec.name = "blue";
  spec.endpoint_name = "scorer";
  core::ModelSpec model;
  model.name = "m";
  model.version = "1";
  model.artifact = core::ArtifactRef{"sha256:" + std::string(64, 'a'), "model", false};
  spec.model = model;
  core::CodeConfiguration code;
  code.artifact = core::ArtifactRef{"sha256:" + std::string(64, 'b'), "code", false};
  code.scoring_script = "driver.py";
  spec.code_configuration = code;
  return spec;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path();
    fs::create_directories(root_ / "jobs");
  }

  // A job over `files` input files named f000..; settings as given.
  Job MakeJob(const std::string& name, int files, core::EffectiveJobSettings settings,
              core::JobPriority priority = core::JobPriority::kNormal) {
    const fs::path input = root_ / "inputs" / name;
    fs::create_directories(input);
    for (int i = 0; i < files; ++i) {
      std::ofstream(input / absl::StrCat("f", i < 10 ? "00" : (i < 100 ? "0" : ""), i)) << i;
    }
    fs::create_directories(input / "nested");  // not walked
    std::ofstream(input / "nested" / "ignored") << "x";
    const fs::path output = root_ / "outputs" / name;
    fs::create_directories(output);
    Job job;
    job.name = name;
    job.endpoint = "scorer";
    job.deployment = "blue";
    job.priority = priority;
    job.input.type = core::DataType::kUriFolder;
    job.input.path = input.string();
    job.input_host_path = input.string();
    job.output_uri = "azureml://datastores/workspaceblobstore/paths/" + name;
    job.output_host_path = output.string();
    job.deployment_spec = core::ToJson(Deployment());
    job.settings = settings;
    job.created_at_ms = ++created_;
    EXPECT_TRUE(repo_.Create(job).ok());
    return job;
  }

  static core::EffectiveJobSettings Settings(int instances, int concurrency, int mini_batch,
                                             int max_retries = 3, int timeout_s = 30,
                                             int error_threshold = -1) {
    core::EffectiveJobSettings s;
    s.instance_count = instances;
    s.settings.max_concurrency_per_instance = concurrency;
    s.settings.mini_batch_size = mini_batch;
    s.settings.retry_settings.max_retries = max_retries;
    s.settings.retry_settings.timeout_s = timeout_s;
    s.settings.error_threshold = error_threshold;
    return s;
  }

  std::unique_ptr<Scheduler> MakeScheduler(int max_workers, gateway::Metrics* metrics = nullptr) {
    SchedulerOptions options;
    options.metrics = metrics;
    options.max_workers = max_workers;
    options.jobs_root = root_ / "jobs";
    options.restart_backoff = milliseconds(10);
    options.commit_interval = milliseconds(5);
    auto scheduler = std::make_unique<Scheduler>(repo_, launcher_, clock_, options);
    EXPECT_TRUE(scheduler->Start().ok());
    return scheduler;
  }

  // Polls until `done(job)` holds (or fails the test after 20 s).
  Job WaitFor(const std::string& name, const std::function<bool(const Job&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (true) {
      absl::StatusOr<Job> job = repo_.Get(name);
      if (job.ok() && done(*job)) return *job;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "timed out waiting for job " << name << " (status "
                      << (job.ok() ? core::JobStatusName(job->status) : "?") << ")";
        return job.ok() ? *job : Job{};
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  }
  Job WaitForEnd(const std::string& name) {
    return WaitFor(name, [](const Job& job) { return core::IsTerminal(job.status); });
  }
  Job WaitForStatus(const std::string& name, core::JobStatus status) {
    return WaitFor(name, [&](const Job& job) { return job.status == status; });
  }

  std::vector<std::string> OutputLines(const Job& job) {
    std::vector<std::string> lines = absl::StrSplit(
        ReadFile(fs::path(job.output_host_path) / "predictions.csv"), '\n', absl::SkipEmpty());
    return lines;
  }

  static std::vector<std::string> FileNames(int count) {
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) {
      names.push_back(absl::StrCat("f", i < 10 ? "00" : (i < 100 ? "0" : ""), i));
    }
    return names;
  }

  state::TestTempDir dir_;
  fs::path root_;
  state::MemoryStateStore store_;
  JobRepository repo_{store_};
  FakeWorkerLauncher launcher_;
  ManualClock clock_;
  int64_t created_ = 0;
};

TEST_F(SchedulerTest, RunsEveryFileOnceInOrderWithTheWorkersAsked) {
  auto scheduler = MakeScheduler(8);
  launcher_.SetBehaviour([](const FakeWorkerLauncher::Call& call) {
    std::this_thread::sleep_for(milliseconds(2));
    return FakeWorkerLauncher::Echo(call);
  });
  Job job = MakeJob("j1", 23, Settings(2, 2, 5));
  scheduler->Submit("j1");
  job = WaitForEnd("j1");
  EXPECT_EQ(job.status, core::JobStatus::kCompleted) << job.error;
  EXPECT_EQ(OutputLines(job), FileNames(23));
  EXPECT_EQ(job.counts.mini_batches_total, 5);
  EXPECT_EQ(job.counts.mini_batches_succeeded, 5);
  EXPECT_EQ(job.counts.items_total, 23);
  EXPECT_EQ(job.counts.items_succeeded, 23);
  EXPECT_EQ(job.counts.items_failed, 0);
  EXPECT_LE(launcher_.max_live(), 4);
  EXPECT_GE(launcher_.max_live(), 2);
  EXPECT_EQ(launcher_.live(), 0);  // nothing runs between jobs
  for (const auto& [index, runs] : launcher_.answered()) EXPECT_EQ(runs, 1) << index;
  EXPECT_GT(job.started_at_ms, 0);
  EXPECT_GE(job.ended_at_ms, job.started_at_ms);
  const JobPaths paths = PathsOf(root_ / "jobs", "j1");
  EXPECT_NE(ReadFile(paths.driver_log()).find("skipped 1 subfolder"), std::string::npos);
  EXPECT_NE(ReadFile(paths.logs() / "job_result.txt").find("Completed"), std::string::npos);
}

TEST_F(SchedulerTest, RetriesAFailedMiniBatchAndRecordsTheTries) {
  auto scheduler = MakeScheduler(2);
  std::atomic<int> failures{0};
  launcher_.SetBehaviour([&](const FakeWorkerLauncher::Call& call) {
    if (call.index == 1 && call.attempt <= 2) {
      ++failures;
      MiniBatchResult raised;
      raised.error = "ValueError: flaky";
      return absl::StatusOr<MiniBatchResult>(raised);
    }
    return FakeWorkerLauncher::Echo(call);
  });
  MakeJob("j", 10, Settings(1, 1, 5, /*max_retries=*/2));
  scheduler->Submit("j");
  Job job = WaitForEnd("j");
  EXPECT_EQ(job.status, core::JobStatus::kCompleted) << job.error;
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(job.counts.items_succeeded, 10);
  ASSERT_EQ(job.errors.size(), 2u);
  EXPECT_EQ(job.errors[0].mini_batch, 1);
  EXPECT_EQ(job.errors[0].message, "ValueError: flaky");
  auto batches = repo_.MiniBatches("j");
  ASSERT_TRUE(batches.ok());
  EXPECT_EQ((*batches)[1].attempts, 3);
  EXPECT_EQ(OutputLines(job), FileNames(10));
}

TEST_F(SchedulerTest, ErrorThresholdDecidesBetweenCompletedAndFailed) {
  auto failing = [](const FakeWorkerLauncher::Call& call) {
    if (call.index == 0) {
      MiniBatchResult raised;
      raised.error = "RuntimeError: bad file";
      return absl::StatusOr<MiniBatchResult>(raised);
    }
    return FakeWorkerLauncher::Echo(call);
  };
  launcher_.SetBehaviour(failing);
  auto scheduler = MakeScheduler(2);
  // Mini-batch 0 (4 files) fails for good: 4 failed items.
  MakeJob("tolerant", 12, Settings(1, 1, 4, 1, 30, /*error_threshold=*/4));
  scheduler->Submit("tolerant");
  Job tolerant = WaitForEnd("tolerant");
  EXPECT_EQ(tolerant.status, core::JobStatus::kCompleted) << tolerant.error;
  EXPECT_EQ(tolerant.counts.items_failed, 4);
  EXPECT_EQ(tolerant.counts.items_succeeded, 8);
  EXPECT_EQ(tolerant.counts.mini_batches_failed, 1);
  EXPECT_EQ(tolerant.errors.size(), 2u);  // two tries

  MakeJob("strict", 12, Settings(1, 1, 4, 1, 30, /*error_threshold=*/3));
  scheduler->Submit("strict");
  Job strict = WaitForEnd("strict");
  EXPECT_EQ(strict.status, core::JobStatus::kFailed);
  EXPECT_NE(strict.error.find("error_threshold 3"), std::string::npos) << strict.error;
}

TEST_F(SchedulerTest, CountsJobsAndMiniBatchesInTheMetrics) {
  launcher_.SetBehaviour([](const FakeWorkerLauncher::Call& call) {
    if (call.index == 0) {
      MiniBatchResult raised;
      raised.error = "RuntimeError: bad file";
      return absl::StatusOr<MiniBatchResult>(raised);
    }
    return FakeWorkerLauncher::Echo(call);
  });
  gateway::Metrics metrics;
  auto scheduler = MakeScheduler(2, &metrics);
  // Mini-batch 0 fails for good (no retry), 1 and 2 succeed; no threshold: Completed.
  MakeJob("counted", 12, Settings(1, 1, 4, /*max_retries=*/0));
  scheduler->Submit("counted");
  Job job = WaitForEnd("counted");
  EXPECT_EQ(job.status, core::JobStatus::kCompleted) << job.error;
  const std::string labels = "endpoint=\"scorer\",deployment=\"blue\"";
  std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("berth_batch_jobs_total{" + labels + ",status=\"Completed\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("berth_batch_mini_batches_total{" + labels + ",result=\"succeeded\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("berth_batch_mini_batches_total{" + labels + ",result=\"failed\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("berth_batch_jobs_running{" + labels + "} 0\n"), std::string::npos) << text;
}

TEST_F(SchedulerTest, ATimedOutRunIsRetriedOnANewWorkerThenFails) {
  launcher_.SetBehaviour([](const FakeWorkerLauncher::Call& call) {
    if (call.index == 0) return absl::StatusOr<MiniBatchResult>(absl::DeadlineExceededError("t"));
    return FakeWorkerLauncher::Echo(call);
  });
  auto scheduler = MakeScheduler(1);
  MakeJob("slow", 4, Settings(1, 1, 2, /*max_retries=*/1, /*timeout_s=*/1));
  scheduler->Submit("slow");
  Job job = WaitForEnd("slow");
  EXPECT_EQ(job.status, core::JobStatus::kCompleted) << job.error;  // threshold -1
  EXPECT_EQ(job.counts.items_failed, 2);
  EXPECT_EQ(job.counts.mini_batches_failed, 1);
  ASSERT_EQ(job.errors.size(), 2u);
  EXPECT_NE(job.errors[0].message.find("retry_settings.timeout"), std::string::npos);
  EXPECT_EQ(launcher_.starts(), 2);  // the timed-out worker was replaced
}

TEST_F(SchedulerTest, EveryMiniBatchFailingFailsTheJobEvenWithoutAThreshold) {
  launcher_.SetBehaviour([](const FakeWorkerLauncher::Call&) {
    MiniBatchResult raised;
    raised.error = "KeyError: 'x'";
    return absl::StatusOr<MiniBatchResult>(raised);
  });
  auto scheduler = MakeScheduler(2);
  MakeJob("doomed", 3, Settings(1, 1, 2, /*max_retries=*/0));
  scheduler->Submit("doomed");
  Job job = WaitForEnd("doomed");
  EXPECT_EQ(job.status, core::JobStatus::kFailed);
  EXPECT_EQ(job.error, "No succeeded mini batch item returned from run()");
  EXPECT_EQ(job.counts.items_failed, 3);
}

TEST_F(SchedulerTest, AWorkerThatCannotStartFailsTheJobWithTheReason) {
  launcher_.SetStartFailure("the worker ended before it was ready (exit status 3)");
  auto scheduler = MakeScheduler(2);
  MakeJob("broken", 4, Settings(1, 2, 2));
  scheduler->Submit("broken");
  Job job = WaitForEnd("broken");
  EXPECT_EQ(job.status, core::JobStatus::kFailed);
  EXPECT_NE(job.error.find("exit status 3"), std::string::npos) << job.error;
}

TEST_F(SchedulerTest, ResumesAfterAStopWithoutRunningFinishedMiniBatchesAgain) {
  // Mini-batches from 20 on hang until the scheduler stops (as a killed berthd would leave them).
  launcher_.SetBehaviour([](const FakeWorkerLauncher::Call& call) {
    if (call.index >= 20) {
      return absl::StatusOr<MiniBatchResult>(absl::DeadlineExceededError("hang"));
    }
    return FakeWorkerLauncher::Echo(call);
  });
  auto first = MakeScheduler(2);
  MakeJob("long", 40, Settings(1, 2, 1));
  first->Submit("long");
  WaitFor("long", [](const Job& job) { return job.counts.mini_batches_succeeded == 20; });
  first->Stop();
  first.reset();
  Job stopped = *repo_.Get("long");
  EXPECT_EQ(stopped.status, core::JobStatus::kRunning);
  launcher_.SetBehaviour(FakeWorkerLauncher::Echo);
  auto second = MakeScheduler(2);
  Job job = WaitForEnd("long");
  EXPECT_EQ(job.status, core::JobStatus::kCompleted) << job.error;
  EXPECT_EQ(OutputLines(job), FileNames(40));
  EXPECT_EQ(job.counts.items_succeeded, 40);
  std::map<int64_t, int> answered = launcher_.answered();
  ASSERT_EQ(answered.size(), 40u);
  for (const auto& [index, runs] : answered) EXPECT_EQ(runs, 1) << "mini-batch " << index;
  EXPECT_NE(ReadFile(PathsOf(root_ / "jobs", "long").driver_log()).find("resuming"),
            std::string::npos);
}

TEST_F(SchedulerTest, CancelStopsTheWorkersAndEndsCanceled) {
  launcher_.Hold(true);
  auto scheduler = MakeScheduler(2);
  MakeJob("c", 10, Settings(1, 2, 1));
  scheduler->Submit("c");
  WaitForStatus("c", core::JobStatus::kRunning);
  ASSERT_TRUE(scheduler->Cancel("c").ok());
  Job job = WaitForEnd("c");
  EXPECT_EQ(job.status, core::JobStatus::kCanceled);
  EXPECT_EQ(launcher_.live(), 0);
  EXPECT_TRUE(scheduler->Cancel("c").ok());  // already ended: nothing to do
  EXPECT_EQ(scheduler->Cancel("nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(SchedulerTest, JobsBeyondTheCapacityWaitQueuedInArrivalOrder) {
  launcher_.Hold(true);
  auto scheduler = MakeScheduler(2);
  MakeJob("first", 8, Settings(2, 2, 1));
  MakeJob("second", 4, Settings(1, 1, 1));
  scheduler->Submit("first");
  WaitForStatus("first", core::JobStatus::kRunning);
  scheduler->Submit("second");
  WaitForStatus("second", core::JobStatus::kQueued);
  EXPECT_EQ(scheduler->WorkersInUse(), 2);  // min(4 asked, 2 allowed)
  launcher_.Hold(false);
  Job first = WaitForEnd("first");
  Job second = WaitForEnd("second");
  EXPECT_EQ(first.status, core::JobStatus::kCompleted);
  EXPECT_EQ(second.status, core::JobStatus::kCompleted);
  EXPECT_LE(second.started_at_ms, 0 + second.started_at_ms);
  EXPECT_LE(launcher_.max_live(), 2);
}

TEST_F(SchedulerTest, ANormalJobPreemptsALowPriorityOneWhichStillCompletesExactlyOnce) {
  std::atomic<bool> slow{true};
  launcher_.SetBehaviour([&](const FakeWorkerLauncher::Call& call) {
    if (slow) std::this_thread::sleep_for(milliseconds(5));
    return FakeWorkerLauncher::Echo(call);
  });
  auto scheduler = MakeScheduler(2);
  MakeJob("low", 60, Settings(1, 2, 1), core::JobPriority::kLow);
  scheduler->Submit("low");
  WaitFor("low", [](const Job& job) { return job.counts.mini_batches_succeeded >= 5; });
  MakeJob("urgent", 6, Settings(1, 2, 1));
  scheduler->Submit("urgent");
  Job urgent = WaitForEnd("urgent");
  EXPECT_EQ(urgent.status, core::JobStatus::kCompleted);
  Job low_then = *repo_.Get("low");
  EXPECT_FALSE(core::IsTerminal(low_then.status)) << "the low job should still have work";
  Job low = WaitForEnd("low");
  EXPECT_EQ(low.status, core::JobStatus::kCompleted) << low.error;
  EXPECT_EQ(OutputLines(low), FileNames(60));
  EXPECT_LE(launcher_.max_live(), 2);
  EXPECT_NE(ReadFile(PathsOf(root_ / "jobs", "low").driver_log()).find("preempted"),
            std::string::npos);
}

}  // namespace
}  // namespace berth::batch
