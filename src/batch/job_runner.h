#pragma once
// JobRunner: what the batch service asks of the scheduler (batch/scheduler.h implements it; a
// fake stands in for service tests).
//
// Threading: all methods may be called from any thread and return quickly (no waiting for
// workers).

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace berth::batch {

// What only the running scheduler knows about a job; persisted counts are in the Job record.
struct LiveProgress {
  int workers = 0;  // worker processes running now
  int64_t mini_batches_running = 0;
  double items_per_second = 0;  // over the last minute of this run
  double eta_seconds = -1;      // -1 when unknown
};

class JobRunner {
 public:
  virtual ~JobRunner() = default;
  // A job record was just created in NotStarted: queue it.
  virtual void Submit(const std::string& job) = 0;
  // Asks a job to stop: CancelRequested, then Canceled once its workers are gone. NOT_FOUND
  // for an unknown job; OK (nothing done) for a job that already ended.
  virtual absl::Status Cancel(const std::string& job) = 0;
  virtual std::optional<LiveProgress> Live(const std::string& job) const = 0;
};

}  // namespace berth::batch
