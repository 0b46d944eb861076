#pragma once
// FakeJobRunner: a JobRunner for service tests. It records what it was asked and answers Live
// with what the test sets. Test-only (included by *_test.cc files).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "batch/job_runner.h"

namespace berth::batch {

class FakeJobRunner final : public JobRunner {
 public:
  void Submit(const std::string& job) override {
    absl::MutexLock lock(&mu_);
    submitted_.push_back(job);
  }
  absl::Status Cancel(const std::string& job) override {
    absl::MutexLock lock(&mu_);
    canceled_.push_back(job);
    return cancel_status_;
  }
  std::optional<LiveProgress> Live(const std::string& job) const override {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(job);
    if (it == live_.end()) return std::nullopt;
    return it->second;
  }

  void SetLive(const std::string& job, LiveProgress progress) {
    absl::MutexLock lock(&mu_);
    live_[job] = progress;
  }
  void SetCancelStatus(absl::Status status) {
    absl::MutexLock lock(&mu_);
    cancel_status_ = std::move(status);
  }
  std::vector<std::string> submitted() const {
    absl::MutexLock lock(&mu_);
    return submitted_;
  }
  std::vector<std::string> canceled() const {
    absl::MutexLock lock(&mu_);
    return canceled_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> submitted_;
  std::vector<std::string> canceled_;
  std::map<std::string, LiveProgress> live_;
  absl::Status cancel_status_;
};

}  // namespace berth::batch
