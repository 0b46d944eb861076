#pragma once
// FakeWorkerLauncher: batch workers for scheduler tests, without processes. run() answers one
// line per file ("<file>"), unless the test's `behaviour` says otherwise; it records every
// call so tests can tell how often each mini-batch ran and how many workers lived at once.
//
// Thread-safety: all methods may be called concurrently (the scheduler runs one worker per
// thread).

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "batch/batch_worker.h"

namespace berth::batch {

class FakeWorkerLauncher final : public WorkerLauncher {
 public:
  struct Call {
    int64_t index = 0;
    int attempt = 0;
    std::vector<std::string> files;
    int slot = 0;
  };
  // What a run() call does: an answer, or one of
  // - DEADLINE_EXCEEDED: hang until the timeout (or an interrupt),
  // - UNAVAILABLE: the worker "dies".
  using Behaviour = std::function<absl::StatusOr<MiniBatchResult>(const Call&)>;

  static absl::StatusOr<MiniBatchResult> Echo(const Call& call) {
    MiniBatchResult result;
    result.ok = true;
    result.count = static_cast<int64_t>(call.files.size());
    result.lines = call.files;
    return result;
  }

  void SetBehaviour(Behaviour behaviour) {
    std::lock_guard lock(mu_);
    behaviour_ = std::move(behaviour);
  }
  // Start fails (init() raising) while this is set.
  void SetStartFailure(std::string message) {
    std::lock_guard lock(mu_);
    start_failure_ = std::move(message);
  }
  // Run blocks before answering while `hold` is set (released by ReleaseHold or an interrupt).
  void Hold(bool hold) {
    std::lock_guard lock(mu_);
    hold_ = hold;
    cv_.notify_all();
  }

  absl::StatusOr<std::unique_ptr<BatchWorker>> Start(const WorkerPlan& plan,
                                                     const std::atomic<bool>& abandon) override {
    std::lock_guard lock(mu_);
    ++starts_;
    if (abandon) return absl::CancelledError("abandoned");
    if (!start_failure_.empty()) return absl::FailedPreconditionError(start_failure_);
    ++live_;
    max_live_ = std::max(max_live_, live_);
    return std::make_unique<Worker>(*this, plan.slot);
  }

  int starts() const {
    std::lock_guard lock(mu_);
    return starts_;
  }
  int live() const {
    std::lock_guard lock(mu_);
    return live_;
  }
  int max_live() const {
    std::lock_guard lock(mu_);
    return max_live_;
  }
  // Completed run() calls (answered), per mini-batch.
  std::map<int64_t, int> answered() const {
    std::lock_guard lock(mu_);
    return answered_;
  }
  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  class Worker final : public BatchWorker {
   public:
    Worker(FakeWorkerLauncher& owner, int slot) : owner_(owner), slot_(slot) {}
    ~Worker() override { Stop(); }

    absl::StatusOr<MiniBatchResult> Run(int64_t index, int attempt,
                                        const std::vector<std::string>& files,
                                        std::chrono::milliseconds timeout) override {
      Call call{index, attempt, files, slot_};
      std::unique_lock lock(owner_.mu_);
      owner_.calls_.push_back(call);
      owner_.cv_.wait(lock, [&] { return !owner_.hold_ || interrupted_; });
      if (interrupted_) return absl::UnavailableError("interrupted");
      Behaviour behaviour = owner_.behaviour_ ? owner_.behaviour_ : Behaviour(Echo);
      lock.unlock();
      absl::StatusOr<MiniBatchResult> result = behaviour(call);
      lock.lock();
      if (!result.ok() && result.status().code() == absl::StatusCode::kDeadlineExceeded) {
        owner_.cv_.wait_for(lock, timeout, [&] { return interrupted_; });
        if (interrupted_) return absl::UnavailableError("interrupted");
        return result;
      }
      if (interrupted_) return absl::UnavailableError("interrupted");
      if (result.ok()) ++owner_.answered_[index];
      return result;
    }
    void Interrupt() override {
      std::lock_guard lock(owner_.mu_);
      interrupted_ = true;
      owner_.cv_.notify_all();
    }
    void Stop() override {
      std::lock_guard lock(owner_.mu_);
      if (stopped_) return;
      stopped_ = true;
      interrupted_ = true;
      --owner_.live_;
      owner_.cv_.notify_all();
    }

   private:
    FakeWorkerLauncher& owner_;
    const int slot_;
    bool interrupted_ = false;  // guarded by owner_.mu_
    bool stopped_ = false;
  };

  mutable std::mutex mu_;
  std::condition_variable cv_;
  Behaviour behaviour_;
  std::string start_failure_;
  bool hold_ = false;
  int starts_ = 0;
  int live_ = 0;
  int max_live_ = 0;
  std::map<int64_t, int> answered_;
  std::vector<Call> calls_;
};

}  // namespace berth::batch
