#include "batch/scheduler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "batch/job_log.h"
#include "common/status_macros.h"

namespace berth::batch {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

int64_t EpochMs(const Clock& clock) {
  return std::chrono::duration_cast<milliseconds>(clock.WallNow().time_since_epoch()).count();
}

// One worker's output file for a run of the job: mini-batch outputs are appended, and each
// mini-batch's record names its byte range (what commits it). Appends need no create or rename
// per mini-batch; bytes no record names (a crash between append and record) are never read.
class Segment {
 public:
  explicit Segment(fs::path path) : path_(std::move(path)) {}
  ~Segment() {
    if (fd_ >= 0) ::close(fd_);
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  const fs::path& path() const { return path_; }

  // Appends `lines` (each followed by a newline); returns the offset they start at.
  absl::StatusOr<int64_t> Append(const std::vector<std::string>& lines, int64_t* length) {
    if (fd_ < 0) {
      // Never truncated: a file of the same name from an earlier run may hold recorded ranges.
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd_ < 0) {
        return absl::InternalError("cannot write " + path_.string() + ": " + strerror(errno));
      }
      const off_t end = ::lseek(fd_, 0, SEEK_END);
      if (end < 0) return absl::InternalError("cannot seek " + path_.string());
      size_ = end;
    }
    buffer_.clear();
    for (const std::string& line : lines) {
      buffer_ += line;
      buffer_ += '\n';
    }
    size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        return absl::InternalError("cannot write " + path_.string() + ": " + strerror(errno));
      done += static_cast<size_t>(n);
    }
    const int64_t offset = size_;
    size_ += static_cast<int64_t>(buffer_.size());
    *length = static_cast<int64_t>(buffer_.size());
    return offset;
  }

 private:
  const fs::path path_;
  int fd_ = -1;
  int64_t size_ = 0;
  std::string buffer_;
};

// The input's files, relative to the input root: the file itself for uri_file; for a folder its
// top-level regular files (not hidden, not in subfolders), sorted byte-wise.
absl::StatusOr<std::vector<std::string>> ListInput(const Job& job, int* skipped_folders) {
  const fs::path input(job.input_host_path);
  std::error_code ec;
  if (job.input.type == core::DataType::kUriFile) {
    if (!fs::is_regular_file(input, ec)) {
      return absl::FailedPreconditionError("the input file " + input.string() + " is gone");
    }
    return std::vector<std::string>{input.filename().string()};
  }
  std::vector<std::string> files;
  fs::directory_iterator it(input, ec);
  if (ec) {
    return absl::FailedPreconditionError("cannot read the input folder " + input.string() + ": " +
                                         ec.message());
  }
  for (const fs::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".")) continue;
    if (entry.is_directory(ec)) {
      ++*skipped_folders;
      continue;
    }
    if (entry.is_regular_file(ec)) files.push_back(name);
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// One unfinished job: its driver thread and its worker threads.

class Scheduler::JobDriver {
 public:
  JobDriver(Scheduler& scheduler, Job job, int64_t arrival)
      : scheduler_(scheduler),
        name_(job.name),
        priority_(job.priority),
        arrival_(arrival),
        job_(std::move(job)),
        log_(PathsOf(scheduler.options_.jobs_root, name_), scheduler.clock_) {
    const auto& s = job_.settings;
    wanted_ = std::max(1, std::min(s.instance_count * s.settings.max_concurrency_per_instance,
                                   scheduler_.options_.max_workers));
  }

  ~JobDriver() { Join(); }

  void Begin() {
    thread_ = std::thread([this] { Main(); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // --- Called by the scheduler (its mutex held; takes only this driver's).
  const std::string& name() const { return name_; }
  core::JobPriority priority() const { return priority_; }
  int64_t arrival() const { return arrival_; }
  int Wanted() const {
    std::lock_guard lock(mu_);
    return wanted_;
  }
  // Workers this job holds (granted, and not yet given back).
  int Held() const {
    std::lock_guard lock(mu_);
    return granted_;
  }
  bool Waiting() const {  // queued for workers
    std::lock_guard lock(mu_);
    return granted_ == 0 && !finished_ && !stopping_;
  }
  bool Releasing() const {
    std::lock_guard lock(mu_);
    return preempt_;
  }
  bool Finished() const {
    std::lock_guard lock(mu_);
    return finished_;
  }
  void Grant(int workers) {
    std::lock_guard lock(mu_);
    granted_ = workers;
    cv_.notify_all();
  }
  void Preempt() {
    std::lock_guard lock(mu_);
    if (granted_ > 0 && !finished_) preempt_ = true;
    StopSlotsLocked();
  }
  void StopForShutdown() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    StopSlotsLocked();
  }

  // --- Called from any thread.
  void RequestCancel() {
    {
      std::lock_guard lock(mu_);
      if (cancel_ || finished_) return;
      cancel_ = true;
      job_.status = core::JobStatus::kCancelRequested;
      StopSlotsLocked();
    }
    log_.Driver("cancel requested: stopping the workers");
    std::lock_guard commit(commit_mu_);
    Job copy;
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      copy = job_;
    }
    (void)scheduler_.jobs_.Update(copy);
  }

  LiveProgress Live() const {
    std::lock_guard lock(mu_);
    LiveProgress live;
    live.workers = live_workers_;
    live.mini_batches_running = static_cast<int64_t>(running_.size());
    const SteadyTime now = scheduler_.clock_.Now();
    // Items per second over the last minute of samples.
    while (!rate_samples_.empty() && now - rate_samples_.front().first > std::chrono::minutes(1)) {
      rate_samples_.pop_front();
    }
    if (!rate_samples_.empty()) {
      // Over the last minute, or since this run began when that is later.
      const SteadyTime from = std::max(run_began_, now - std::chrono::minutes(1));
      double seconds = std::chrono::duration<double>(now - from).count();
      int64_t items = 0;
      for (const auto& [when, count] : rate_samples_) items += count;
      if (seconds > 0.05) live.items_per_second = items / seconds;
    }
    const int64_t left =
        job_.counts.items_total - job_.counts.items_succeeded - job_.counts.items_failed;
    if (live.items_per_second > 0) live.eta_seconds = left / live.items_per_second;
    return live;
  }

 private:
  struct Slot {
    std::thread thread;
    std::atomic<bool> abandon{false};
    BatchWorker* worker = nullptr;  // while one runs (guarded by mu_)
  };

  void StopSlotsLocked() {
    slots_stop_ = true;
    for (auto& slot : slots_) {
      slot->abandon = true;
      if (slot->worker != nullptr) slot->worker->Interrupt();
    }
    cv_.notify_all();
  }

  // Persists the job (and mini-batches `indices`), serialised with other writes of this job.
  absl::Status Persist(const std::vector<int64_t>& indices) {
    std::lock_guard commit(commit_mu_);
    std::vector<MiniBatch> batches;
    Job copy;
    {
      std::lock_guard lock(mu_);
      batches.reserve(indices.size());
      for (int64_t index : indices) batches.push_back(mini_batches_[index]);
      copy = job_;
    }
    copy.revision = 0;  // this driver is the job's only writer
    log_.Flush();
    absl::StatusOr<int64_t> written = scheduler_.jobs_.Commit(batches, &copy);
    if (!written.ok()) {
      log_.Driver("cannot record progress: " + written.status().ToString());
      return written.status();
    }
    return absl::OkStatus();
  }

  void SetStatus(core::JobStatus status) {
    {
      std::lock_guard lock(mu_);
      if (job_.status == core::JobStatus::kCancelRequested &&
          status != core::JobStatus::kCanceled) {
        return;
      }
      job_.status = status;
      if (status == core::JobStatus::kRunning && job_.started_at_ms == 0) {
        job_.started_at_ms = EpochMs(scheduler_.clock_);
      }
      CountRunningLocked();
    }
    (void)Persist({});
  }

  // berth_batch_jobs_running counts a job from Preparing to its end, except while preempted.
  void CountRunningLocked() {
    gateway::Metrics* metrics = scheduler_.options_.metrics;
    const core::JobStatus s = job_.status;
    const bool running =
        !finished_ && (s == core::JobStatus::kPreparing || s == core::JobStatus::kRunning ||
                       s == core::JobStatus::kFinalizing);
    if (metrics == nullptr || running == counted_running_) return;
    counted_running_ = running;
    metrics->AddBatchJobsRunning(job_.endpoint, job_.deployment, running ? 1 : -1);
  }

  void Main() {
    {
      std::lock_guard lock(mu_);
      if (job_.status == core::JobStatus::kCancelRequested) cancel_ = true;
    }
    if (Cancelled()) return Finish(core::JobStatus::kCanceled, "canceled");
    log_.Driver(absl::StrCat("job ", name_, " of ", job_.endpoint, "/", job_.deployment,
                             " queued (", core::JobPriorityName(priority_), " priority, wants ",
                             Wanted(), " workers)"));
    SetStatus(core::JobStatus::kQueued);
    while (true) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return granted_ > 0 || cancel_ || stopping_; });
        if (stopping_) return;
      }
      if (Cancelled()) break;
      if (!prepared_) {
        absl::Status prepared = Prepare();
        if (!prepared.ok()) {
          std::lock_guard lock(mu_);
          Fail(std::string(prepared.message()));
          break;
        }
      }
      if (!AllDone()) RunWorkers();
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        if (cancel_ || failed_) break;
      }
      if (AllDone()) {
        if (RequeueMissingParts()) continue;
        break;
      }
      // Preempted: give the workers back and wait for new ones.
      log_.Driver(
          "preempted by a normal-priority job: in-flight mini-batches go back to the "
          "queue; the job continues when workers are free");
      SetStatus(core::JobStatus::kQueued);
      {
        std::lock_guard lock(mu_);
        granted_ = 0;
        preempt_ = false;
      }
      scheduler_.Wake();
    }
    Conclude();
  }

  bool Cancelled() const {
    std::lock_guard lock(mu_);
    return cancel_;
  }

  bool AllDone() const {
    std::lock_guard lock(mu_);
    return pending_.empty() && running_.empty();
  }

  // Splits the input into mini-batches (once per job: recorded), then loads them.
  absl::Status Prepare() {
    SetStatus(core::JobStatus::kPreparing);
    const JobPaths paths = PathsOf(scheduler_.options_.jobs_root, name_);
    std::error_code ec;
    fs::create_directories(paths.parts(), ec);
    if (ec) return absl::InternalError("cannot create " + paths.parts().string());
    ASSIGN_OR_RETURN(std::vector<MiniBatch> batches, scheduler_.jobs_.MiniBatches(name_));
    if (batches.empty()) {
      int skipped = 0;
      ASSIGN_OR_RETURN(std::vector<std::string> files, ListInput(job_, &skipped));
      if (skipped > 0) {
        log_.Driver(absl::StrCat("skipped ", skipped,
                                 " subfolder(s) of the input: only its top-level files are "
                                 "scored (as on Azure)"));
      }
      if (files.empty()) {
        return absl::FailedPreconditionError("the input " + job_.input_host_path +
                                             " holds no files to score");
      }
      const size_t size = static_cast<size_t>(job_.settings.settings.mini_batch_size);
      for (size_t first = 0; first < files.size(); first += size) {
        MiniBatch batch;
        batch.job = name_;
        batch.index = static_cast<int64_t>(batches.size());
        batch.files.assign(files.begin() + first,
                           files.begin() + std::min(files.size(), first + size));
        batches.push_back(std::move(batch));
      }
      {
        std::lock_guard lock(mu_);
        job_.counts = {};
        job_.counts.mini_batches_total = static_cast<int64_t>(batches.size());
        job_.counts.items_total = static_cast<int64_t>(files.size());
      }
      Job copy;
      {
        std::lock_guard lock(mu_);
        copy = job_;
      }
      copy.revision = 0;
      std::lock_guard commit(commit_mu_);
      RETURN_IF_ERROR(scheduler_.jobs_.Commit(batches, &copy).status());
      log_.Driver(absl::StrCat("split ", files.size(), " input file(s) into ", batches.size(),
                               " mini-batch(es) of up to ", size, " file(s)"));
    } else {
      log_.Driver(absl::StrCat("resuming: ", batches.size(), " mini-batch(es) recorded"));
    }
    std::lock_guard lock(mu_);
    mini_batches_ = std::move(batches);
    // The counts follow from the records, whatever the job record said when berthd stopped.
    JobCounts counts;
    counts.mini_batches_total = static_cast<int64_t>(mini_batches_.size());
    for (const MiniBatch& batch : mini_batches_) {
      counts.items_total += static_cast<int64_t>(batch.files.size());
      counts.items_succeeded += batch.items_succeeded;
      counts.items_failed += batch.items_failed;
      if (batch.state == MiniBatchState::kSucceeded) ++counts.mini_batches_succeeded;
      if (batch.state == MiniBatchState::kFailed) ++counts.mini_batches_failed;
      if (batch.state == MiniBatchState::kPending) pending_.push_back(batch.index);
    }
    job_.counts = counts;
    wanted_ = std::max(1, std::min<int>(wanted_, static_cast<int>(pending_.size())));
    prepared_ = true;
    if (granted_ > wanted_) {
      granted_ = wanted_;
      scheduler_.Wake();
    }
    return absl::OkStatus();
  }

  // After a power loss, output recorded as written may be missing from its segment; such
  // mini-batches run again. True when any did.
  bool RequeueMissingParts() {
    if (job_.settings.settings.output_action != core::OutputAction::kAppendRow) return false;
    const JobPaths paths = PathsOf(scheduler_.options_.jobs_root, name_);
    std::map<std::string, int64_t> sizes;
    std::vector<int64_t> missing;
    {
      std::lock_guard lock(mu_);
      for (MiniBatch& batch : mini_batches_) {
        if (batch.state != MiniBatchState::kSucceeded || batch.part_length == 0) continue;
        auto [it, added] = sizes.try_emplace(batch.part_file, -1);
        if (added) {
          std::error_code ec;
          auto size = fs::file_size(paths.parts() / batch.part_file, ec);
          if (!ec) it->second = static_cast<int64_t>(size);
        }
        if (it->second >= batch.part_offset + batch.part_length) continue;
        job_.counts.items_succeeded -= batch.items_succeeded;
        job_.counts.items_failed -= batch.items_failed;
        --job_.counts.mini_batches_succeeded;
        batch.state = MiniBatchState::kPending;
        batch.items_succeeded = batch.items_failed = 0;
        batch.part_file.clear();
        batch.part_offset = batch.part_length = 0;
        pending_.push_back(batch.index);
        missing.push_back(batch.index);
      }
    }
    if (missing.empty()) return false;
    log_.Driver(absl::StrCat(missing.size(),
                             " recorded mini-batch output(s) are missing; running "
                             "them again"));
    (void)Persist(missing);
    return true;
  }

  WorkerPlan PlanFor(int slot) {
    const core::EffectiveJobSettings& s = job_.settings;
    WorkerPlan plan;
    plan.job = name_;
    plan.slot = slot;
    plan.node = slot / s.settings.max_concurrency_per_instance;
    plan.process = slot % s.settings.max_concurrency_per_instance;
    plan.deployment = deployment_;
    plan.settings = s;
    plan.input = job_.input_host_path;
    plan.input_is_file = job_.input.type == core::DataType::kUriFile;
    plan.output = job_.output_host_path;
    plan.instance_dir =
        PathsOf(scheduler_.options_.jobs_root, name_).workers() / absl::StrCat("worker-", slot);
    plan.log_file = log_.WorkerStdout(plan.node, plan.process);
    // Azure gives up on init() after 3 x timeout + 30 s without progress.
    plan.start_timeout =
        std::max<milliseconds>(std::chrono::minutes(1),
                               std::chrono::seconds(3 * s.settings.retry_settings.timeout_s + 30));
    return plan;
  }

  void RunWorkers() {
    SetStatus(core::JobStatus::kRunning);
    int workers = 0;
    {
      std::lock_guard lock(mu_);
      workers = std::min<int>(granted_, std::max<size_t>(1, pending_.size()));
      slots_stop_ = false;
      init_failures_ = 0;
      run_began_ = scheduler_.clock_.Now();
      run_id_ = EpochMs(scheduler_.clock_) * 100 + (run_id_ + 1) % 100;
      rate_samples_.clear();
      slots_.clear();
      for (int i = 0; i < workers; ++i) slots_.push_back(std::make_unique<Slot>());
      if (preempt_ || cancel_ || stopping_) StopSlotsLocked();
    }
    size_t to_go = 0;
    {
      std::lock_guard lock(mu_);
      to_go = pending_.size();
    }
    log_.Driver(
        absl::StrCat("running on ", workers, " worker(s); ", to_go, " mini-batch(es) to go"));
    for (int i = 0; i < workers; ++i) {
      slots_[i]->thread = std::thread([this, i] { SlotMain(i); });
    }
    SteadyTime last_overview{};
    while (true) {
      std::vector<int64_t> dirty;
      bool stop = false;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, scheduler_.options_.commit_interval);
        dirty.swap(dirty_);
        stop = slots_stop_ || (pending_.empty() && running_.empty());
      }
      if (!dirty.empty()) (void)Persist(dirty);
      const SteadyTime now = scheduler_.clock_.Now();
      if (now - last_overview > std::chrono::seconds(2) || stop) {
        last_overview = now;
        WriteOverview();
      }
      if (stop) break;
    }
    {
      std::lock_guard lock(mu_);
      StopSlotsLocked();
    }
    for (auto& slot : slots_) slot->thread.join();
    std::vector<int64_t> dirty;
    {
      std::lock_guard lock(mu_);
      dirty.swap(dirty_);
    }
    (void)Persist(dirty);
  }

  void WriteOverview() {
    JobCounts c;
    LiveProgress live = Live();
    {
      std::lock_guard lock(mu_);
      c = job_.counts;
    }
    std::string text = absl::StrFormat(
        "%d mini-batch(es): %d succeeded, %d failed, %d running\n"
        "%d item(s): %d succeeded, %d failed\n"
        "%d worker(s), %.1f items/s\n",
        c.mini_batches_total, c.mini_batches_succeeded, c.mini_batches_failed,
        live.mini_batches_running, c.items_total, c.items_succeeded, c.items_failed, live.workers,
        live.items_per_second);
    log_.ProgressOverview(text);
    log_.Driver(absl::StrFormat(
        "progress: mini-batches %d/%d, items %d/%d, failed items %d, %d worker(s)",
        c.mini_batches_succeeded + c.mini_batches_failed, c.mini_batches_total,
        c.items_succeeded + c.items_failed, c.items_total, c.items_failed, live.workers));
  }

  // Fails the job (the first reason wins) and stops its workers. mu_ held.
  void Fail(const std::string& reason) {
    if (!failed_) {
      failed_ = true;
      failure_ = reason;
    }
    StopSlotsLocked();
  }

  void CheckThresholdLocked() {
    const int threshold = job_.settings.settings.error_threshold;
    if (threshold >= 0 && job_.counts.items_failed > threshold) {
      Fail(absl::StrCat("the job failed: ", job_.counts.items_failed,
                        " failed item(s) exceed error_threshold ", threshold));
    }
  }

  void SlotMain(int slot_index) {
    Slot& slot = *slots_[slot_index];
    const WorkerPlan plan = PlanFor(slot_index);
    const milliseconds timeout =
        std::chrono::seconds(job_.settings.settings.retry_settings.timeout_s);
    const int max_retries = job_.settings.settings.retry_settings.max_retries;
    const bool append = job_.settings.settings.output_action == core::OutputAction::kAppendRow;
    const fs::path parts = PathsOf(scheduler_.options_.jobs_root, name_).parts();
    Segment segment(parts / absl::StrCat("run", run_id_, "-worker", slot_index, ".out"));
    std::unique_ptr<BatchWorker> worker;
    auto drop_worker = [&] {
      if (!worker) return;
      {
        std::lock_guard lock(mu_);
        slot.worker = nullptr;
        --live_workers_;
      }
      worker->Stop();
      worker.reset();
    };
    while (true) {
      int64_t index = -1;
      std::vector<std::string> files;
      int attempt = 0;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return slots_stop_ || !pending_.empty() || running_.empty(); });
        if (slots_stop_ || pending_.empty()) break;
        index = pending_.front();
        pending_.pop_front();
        running_.insert(index);
        files = mini_batches_[index].files;
        attempt = mini_batches_[index].attempts + 1;
      }
      if (!worker) {
        absl::StatusOr<std::unique_ptr<BatchWorker>> started =
            scheduler_.launcher_.Start(plan, slot.abandon);
        std::unique_lock lock(mu_);
        if (!started.ok()) {
          running_.erase(index);
          pending_.push_front(index);
          cv_.notify_all();
          if (slots_stop_) break;
          ++init_failures_;
          const std::string why = std::string(started.status().message());
          lock.unlock();
          log_.Driver(absl::StrCat("worker node", plan.node, "/", JobLog::ProcessName(plan.process),
                                   " did not start: ", why));
          lock.lock();
          if (init_failures_ >= 3 * static_cast<int>(slots_.size())) {
            Fail(absl::StrCat("the workers could not start (", init_failures_,
                              " tries; init() failed?): ", why));
            break;
          }
          cv_.wait_for(lock, scheduler_.options_.restart_backoff, [&] { return slots_stop_; });
          continue;
        }
        worker = *std::move(started);
        slot.worker = worker.get();
        ++live_workers_;
        if (slots_stop_) worker->Interrupt();
      }
      const SteadyTime began = scheduler_.clock_.Now();
      absl::StatusOr<MiniBatchResult> result = worker->Run(index, attempt, files, timeout);
      const double seconds = std::chrono::duration<double>(scheduler_.clock_.Now() - began).count();
      bool interrupted = false;
      {
        std::lock_guard lock(mu_);
        interrupted = slots_stop_ && !result.ok();
      }
      if (!result.ok()) drop_worker();
      if (interrupted) {
        // Preemption, cancel or shutdown: the mini-batch goes back untried.
        std::lock_guard lock(mu_);
        running_.erase(index);
        pending_.push_front(index);
        cv_.notify_all();
        break;
      }
      std::string error;
      int64_t part_offset = 0;
      int64_t part_length = 0;
      if (!result.ok()) {
        error = result.status().code() == absl::StatusCode::kDeadlineExceeded
                    ? absl::StrCat("run() did not return within retry_settings.timeout (",
                                   timeout.count() / 1000, " s); its worker was stopped")
                    : absl::StrCat("the worker ended during run(): ", result.status().message(),
                                   " (see ", plan.log_file.string(), ")");
      } else if (!result->ok) {
        error = result->error;
      } else if (append && !result->lines.empty()) {
        absl::StatusOr<int64_t> written = segment.Append(result->lines, &part_length);
        if (written.ok()) {
          part_offset = *written;
        } else {
          error = std::string(written.status().message());
        }
      }
      JobLog::Try record{index,        attempt,       plan.node,
                         plan.process, error.empty(), result.ok() ? result->count : 0,
                         seconds,      error,         files};
      log_.Record(record);
      std::lock_guard lock(mu_);
      MiniBatch& batch = mini_batches_[index];
      batch.attempts = attempt;
      running_.erase(index);
      if (error.empty()) {
        const int64_t count = static_cast<int64_t>(files.size());
        batch.state = MiniBatchState::kSucceeded;
        if (part_length > 0) {
          batch.part_file = segment.path().filename().string();
          batch.part_offset = part_offset;
          batch.part_length = part_length;
        }
        batch.items_succeeded = std::min(result->count, count);
        batch.items_failed = count - batch.items_succeeded;
        batch.error.clear();
        ++job_.counts.mini_batches_succeeded;
        if (gateway::Metrics* metrics = scheduler_.options_.metrics) {
          metrics->RecordMiniBatch(job_.endpoint, job_.deployment, true);
        }
        job_.counts.items_succeeded += batch.items_succeeded;
        job_.counts.items_failed += batch.items_failed;
        rate_samples_.emplace_back(scheduler_.clock_.Now(), count);
        if (batch.items_failed > 0) CheckThresholdLocked();
      } else {
        batch.error = error;
        if (job_.errors.size() < kMaxJobErrors) {
          job_.errors.push_back({index, files, attempt, error});
        }
        if (attempt <= max_retries) {
          pending_.push_back(index);
        } else {
          batch.state = MiniBatchState::kFailed;
          batch.items_failed = static_cast<int64_t>(files.size());
          ++job_.counts.mini_batches_failed;
          if (gateway::Metrics* metrics = scheduler_.options_.metrics) {
            metrics->RecordMiniBatch(job_.endpoint, job_.deployment, false);
          }
          job_.counts.items_failed += batch.items_failed;
          rate_samples_.emplace_back(scheduler_.clock_.Now(), batch.items_failed);
          CheckThresholdLocked();
        }
      }
      dirty_.push_back(index);
      cv_.notify_all();
    }
    drop_worker();
  }

  // Finalizing and the end state.
  void Conclude() {
    bool canceled = false;
    bool failed = false;
    std::string reason;
    {
      std::lock_guard lock(mu_);
      canceled = cancel_;
      failed = failed_;
      reason = failure_;
    }
    if (canceled) return Finish(core::JobStatus::kCanceled, "canceled by request");
    if (failed) return Finish(core::JobStatus::kFailed, reason);
    SetStatus(core::JobStatus::kFinalizing);
    absl::Status assembled = Assemble();
    if (!assembled.ok()) return Finish(core::JobStatus::kFailed, std::string(assembled.message()));
    JobCounts c;
    {
      std::lock_guard lock(mu_);
      c = job_.counts;
    }
    if (c.items_succeeded == 0) {
      return Finish(core::JobStatus::kFailed, "No succeeded mini batch item returned from run()");
    }
    Finish(core::JobStatus::kCompleted, "");
  }

  // append_row: the parts in mini-batch order, as <output>/<output_file_name>, written to a
  // temporary file, synced, and renamed into place.
  absl::Status Assemble() {
    const core::BatchSettings& settings = job_.settings.settings;
    if (settings.output_action != core::OutputAction::kAppendRow) return absl::OkStatus();
    const JobPaths paths = PathsOf(scheduler_.options_.jobs_root, name_);
    const fs::path target = fs::path(job_.output_host_path) / settings.output_file_name;
    const fs::path tmp =
        fs::path(job_.output_host_path) / ("." + settings.output_file_name + ".berth-tmp");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      return absl::InternalError("cannot write " + tmp.string() + ": " + strerror(errno));
    }
    std::vector<MiniBatch> succeeded;
    {
      std::lock_guard lock(mu_);
      for (const MiniBatch& batch : mini_batches_) {
        if (batch.state == MiniBatchState::kSucceeded) succeeded.push_back(batch);
      }
    }
    std::map<std::string, int> segments;  // open segment files
    auto close_all = [&] {
      for (auto& [name, segment_fd] : segments) ::close(segment_fd);
      ::close(fd);
    };
    std::string buffer;
    for (const MiniBatch& batch : succeeded) {
      if (batch.part_length == 0) continue;
      auto [it, added] = segments.try_emplace(batch.part_file, -1);
      if (added)
        it->second = ::open((paths.parts() / batch.part_file).c_str(), O_RDONLY | O_CLOEXEC);
      buffer.resize(static_cast<size_t>(batch.part_length));
      if (it->second < 0 || ::pread(it->second, buffer.data(), buffer.size(), batch.part_offset) !=
                                static_cast<ssize_t>(buffer.size())) {
        close_all();
        return absl::InternalError(absl::StrCat("cannot read the output of mini-batch ",
                                                batch.index, " from ", batch.part_file));
      }
      size_t done = 0;
      while (done < buffer.size()) {
        ssize_t n = ::write(fd, buffer.data() + done, buffer.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          std::string why = strerror(errno);
          close_all();
          return absl::InternalError("cannot write " + tmp.string() + ": " + why);
        }
        done += static_cast<size_t>(n);
      }
    }
    for (auto& [name, segment_fd] : segments) ::close(segment_fd);
    ::fsync(fd);
    ::close(fd);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
      return absl::InternalError("cannot write " + target.string() + ": " + strerror(errno));
    }
    log_.Driver(
        absl::StrCat("wrote ", target.string(), " from ", succeeded.size(), " mini-batch(es)"));
    return absl::OkStatus();
  }

  // The logs first, then the record: whoever sees the job ended finds its result written.
  void Finish(core::JobStatus status, const std::string& reason) {
    JobCounts c;
    {
      std::lock_guard lock(mu_);
      job_.status = status;
      job_.error = reason;
      job_.ended_at_ms = EpochMs(scheduler_.clock_);
      c = job_.counts;
      CountRunningLocked();
      if (gateway::Metrics* metrics = scheduler_.options_.metrics) {
        metrics->RecordBatchJobEnded(job_.endpoint, job_.deployment, core::JobStatusName(status));
      }
    }
    WriteOverview();
    std::string summary = absl::StrFormat(
        "%s: %d of %d mini-batch(es) succeeded, %d failed; %d of %d item(s) succeeded, %d "
        "failed%s",
        core::JobStatusName(status), c.mini_batches_succeeded, c.mini_batches_total,
        c.mini_batches_failed, c.items_succeeded, c.items_total, c.items_failed,
        reason.empty() ? "" : ". " + reason);
    log_.Result(summary, status == core::JobStatus::kFailed);
    log_.Driver("job " + summary);
    (void)Persist({});
    // Once the end is recorded, the workers' code copies go, and so do the parts of a completed
    // job (they are in its output file; a failed or canceled job keeps them for inspection).
    const JobPaths paths = PathsOf(scheduler_.options_.jobs_root, name_);
    std::error_code ec;
    fs::remove_all(paths.workers(), ec);
    if (status == core::JobStatus::kCompleted) fs::remove_all(paths.parts(), ec);
    {
      std::lock_guard lock(mu_);
      finished_ = true;
      granted_ = 0;
    }
    scheduler_.Wake();
  }

  Scheduler& scheduler_;
  const std::string name_;
  const core::JobPriority priority_;
  const int64_t arrival_;
  std::thread thread_;
  std::mutex commit_mu_;  // one write of this job at a time

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Job job_;
  core::BatchDeploymentSpec deployment_;
  JobLog log_;
  int wanted_ = 1;
  int granted_ = 0;
  bool preempt_ = false;
  bool cancel_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  bool failed_ = false;
  bool counted_running_ = false;  // in berth_batch_jobs_running (CountRunningLocked)
  std::string failure_;
  bool prepared_ = false;
  std::vector<MiniBatch> mini_batches_;
  std::deque<int64_t> pending_;
  std::set<int64_t> running_;
  std::vector<int64_t> dirty_;  // mini-batches changed since the last Persist
  std::vector<std::unique_ptr<Slot>> slots_;
  bool slots_stop_ = false;
  int init_failures_ = 0;
  int live_workers_ = 0;
  mutable std::deque<std::pair<SteadyTime, int64_t>> rate_samples_;
  SteadyTime run_began_{};
  int64_t run_id_ = 0;  // names this run's segment files

 public:
  // The deployment a job runs, parsed from its snapshot (set before Begin).
  void SetDeployment(core::BatchDeploymentSpec spec) { deployment_ = std::move(spec); }
};

// ---------------------------------------------------------------------------------------------

Scheduler::Scheduler(JobRepository& jobs, WorkerLauncher& launcher, const Clock& clock,
                     SchedulerOptions options)
    : jobs_(jobs), launcher_(launcher), clock_(clock), options_(std::move(options)) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  ASSIGN_OR_RETURN(std::vector<Job> jobs, jobs_.List());
  // List is newest first; resume in arrival order.
  std::reverse(jobs.begin(), jobs.end());
  {
    std::lock_guard lock(mu_);
    started_ = true;
  }
  for (const Job& job : jobs) {
    if (!core::IsTerminal(job.status)) Submit(job.name);
  }
  loop_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Scheduler::Stop() {
  std::vector<std::unique_ptr<JobDriver>> drivers;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [name, driver] : drivers_) {
      driver->StopForShutdown();
      drivers.push_back(std::move(driver));
    }
    drivers_.clear();
    for (auto& driver : finished_) drivers.push_back(std::move(driver));
    finished_.clear();
    cv_.notify_all();
  }
  if (loop_.joinable()) loop_.join();
  for (auto& driver : drivers) driver->Join();
}

void Scheduler::Submit(const std::string& name) {
  absl::StatusOr<Job> job = jobs_.Get(name);
  if (!job.ok() || core::IsTerminal(job->status)) return;
  auto deployment = core::ParseBatchDeploymentSpec(job->deployment_spec);
  std::lock_guard lock(mu_);
  if (stopping_ || drivers_.contains(name)) return;
  auto driver = std::make_unique<JobDriver>(*this, *job, next_arrival_++);
  if (deployment.ok()) {
    driver->SetDeployment(deployment->spec);
  } else {
    // Recorded by this berthd, so this means a newer berthd wrote it; the job cannot run here.
    driver->RequestCancel();
  }
  JobDriver* raw = driver.get();
  drivers_.emplace(name, std::move(driver));
  raw->Begin();
  dirty_ = true;
  cv_.notify_all();
}

absl::Status Scheduler::Cancel(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    auto it = drivers_.find(name);
    if (it != drivers_.end()) {
      it->second->RequestCancel();
      dirty_ = true;
      cv_.notify_all();
      return absl::OkStatus();
    }
  }
  absl::StatusOr<Job> job = jobs_.Get(name);
  if (!job.ok()) return job.status();
  return absl::OkStatus();  // it already ended
}

std::optional<LiveProgress> Scheduler::Live(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = drivers_.find(name);
  if (it == drivers_.end()) return std::nullopt;
  return it->second->Live();
}

int Scheduler::WorkersInUse() const {
  std::lock_guard lock(mu_);
  int in_use = 0;
  for (const auto& [name, driver] : drivers_) in_use += driver->Held();
  return in_use;
}

void Scheduler::Wake() {
  std::lock_guard lock(mu_);
  dirty_ = true;
  cv_.notify_all();
}

void Scheduler::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return dirty_ || stopping_; });
    if (stopping_) break;
    dirty_ = false;
    RescheduleLocked();
    // Finished drivers are joined without the lock (their last steps may call Wake).
    std::vector<std::unique_ptr<JobDriver>> done;
    done.swap(finished_);
    lock.unlock();
    done.clear();
    lock.lock();
  }
}

void Scheduler::RescheduleLocked() {
  for (auto it = drivers_.begin(); it != drivers_.end();) {
    if (it->second->Finished()) {
      finished_.push_back(std::move(it->second));
      it = drivers_.erase(it);
    } else {
      ++it;
    }
  }
  int in_use = 0;
  std::vector<JobDriver*> waiting;
  std::vector<JobDriver*> running_low;
  for (auto& [name, driver] : drivers_) {
    in_use += driver->Held();
    if (driver->Waiting()) {
      waiting.push_back(driver.get());
    } else if (driver->priority() == core::JobPriority::kLow && driver->Held() > 0) {
      running_low.push_back(driver.get());
    }
  }
  // Normal before low, then arrival order.
  std::sort(waiting.begin(), waiting.end(), [](JobDriver* a, JobDriver* b) {
    if (a->priority() != b->priority()) return a->priority() == core::JobPriority::kNormal;
    return a->arrival() < b->arrival();
  });
  for (JobDriver* job : waiting) {
    const int want = job->Wanted();
    const int free = options_.max_workers - in_use;
    if (want <= free) {
      job->Grant(want);
      in_use += want;
      continue;
    }
    if (job->priority() == core::JobPriority::kNormal) {
      // Workers already on their way back count as free.
      int coming = 0;
      for (JobDriver* low : running_low) {
        if (low->Releasing()) coming += low->Held();
      }
      std::sort(running_low.begin(), running_low.end(),
                [](JobDriver* a, JobDriver* b) { return a->arrival() > b->arrival(); });
      for (JobDriver* low : running_low) {
        if (free + coming >= want) break;
        if (low->Releasing()) continue;
        low->Preempt();
        coming += low->Held();
      }
    }
    break;  // no overtaking
  }
}

}  // namespace berth::batch
