#pragma once
// Scheduler: runs batch jobs (docs/batch.md, "How a job runs").
//
// - Capacity: at most `max_workers` worker processes run at once over all jobs. A job asks for
//   instance_count x max_concurrency_per_instance workers (never more than it has mini-batches)
//   and runs with min(that, max_workers). Jobs wait Queued; normal jobs are served before low
//   priority ones, each in arrival order, and a job that does not fit waits with every job
//   behind it (no overtaking). A normal job that does not fit takes workers from running low
//   priority jobs (newest first): their in-flight mini-batches go back to their queue without
//   counting as a try, finished ones stay, and they wait Queued to continue afterwards.
// - A job: Preparing splits its input (sorted, top-level files only) into mini-batches, one
//   record each; Running hands mini-batches to its workers; each result is written to a part
//   file renamed into place and then recorded (group commit), so a berthd killed at any point
//   resumes the job without running a recorded mini-batch again; Finalizing checks every part
//   and assembles the output file in mini-batch order.
// - Tries: a run() that raised, timed out (the worker is killed and replaced) or whose worker
//   died is a failed try; a mini-batch gets 1 + max_retries tries, then its files count as
//   failed. Failed files above error_threshold (unless -1) fail the job at once.
//
// Threading: one thread per active job (its driver) and one per worker; the public methods may
// be called from any thread and do not wait for workers. Time comes from the injected Clock
// (rates, ETA, timestamps); waits use real time.

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "batch/batch_worker.h"
#include "batch/job_record.h"
#include "batch/job_runner.h"
#include "common/clock.h"
#include "gateway/metrics.h"

namespace berth::batch {

struct SchedulerOptions {
  int max_workers = 1;              // --batch-max-workers
  std::filesystem::path jobs_root;  // <data-dir>/jobs
  // Pause between worker starts that failed, so a broken init() does not spin.
  std::chrono::milliseconds restart_backoff{500};
  // How often a running job records finished mini-batches (one state-store commit each time).
  std::chrono::milliseconds commit_interval{25};
  // Optional: batch job and mini-batch series (berth_batch_*); must outlive the scheduler.
  gateway::Metrics* metrics = nullptr;
};

class Scheduler final : public JobRunner {
 public:
  Scheduler(JobRepository& jobs, WorkerLauncher& launcher, const Clock& clock,
            SchedulerOptions options);
  ~Scheduler() override;  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Picks up every job a previous berthd left unfinished (in arrival order) and starts
  // scheduling. Call once.
  absl::Status Start();
  // Stops every worker and driver; unfinished jobs stay recorded as they are and continue at
  // the next Start (of this or another scheduler on the same store).
  void Stop();

  void Submit(const std::string& job) override;
  absl::Status Cancel(const std::string& job) override;
  std::optional<LiveProgress> Live(const std::string& job) const override;

  // For tests and views: how many workers jobs hold now.
  int WorkersInUse() const;

 private:
  class JobDriver;
  friend class JobDriver;

  // Admits and preempts (see the file comment). Called with mu_ held.
  void RescheduleLocked();
  // Wakes the scheduling thread.
  void Wake();
  void Loop();

  JobRepository& jobs_;
  WorkerLauncher& launcher_;
  const Clock& clock_;
  const SchedulerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  bool dirty_ = false;  // something changed since the last RescheduleLocked
  int64_t next_arrival_ = 0;
  std::map<std::string, std::unique_ptr<JobDriver>> drivers_;  // unfinished jobs
  std::vector<std::unique_ptr<JobDriver>> finished_;           // joined on the loop thread
  std::thread loop_;
};

}  // namespace berth::batch
