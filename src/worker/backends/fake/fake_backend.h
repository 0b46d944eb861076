#pragma once
// The fake backend ("fake"): a model with no file, for tests and benchmarks of everything around
// a backend (queueing, batching, protocols). config.pbtxt selects it with `backend: "fake"` and
// sets its behaviour through `parameters` (string values):
//   behavior    "identity" (the only one, default): output i is input i, named after config
//               output i; the config needs as many outputs as inputs, of the same datatypes.
//   sleep_us    real time to sleep in every Execute.
//   fail_every  N > 0: every Nth request an instance sees fails alone with INTERNAL.
//   fail_id     a request with this id fails alone with INTERNAL.
//   poison_id   a batch holding a request with this id fails as a whole, every request with
//               INTERNAL (like a framework exception); alone, only that request fails.
// Every Execute is recorded in a FakeBackendLog that tests can read.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "worker/backend.h"

namespace berth::worker {

struct FakeExecution {
  std::vector<std::string> ids;  // the batch's requests, in order
  int64_t rows = 0;              // InferRequest::batch_rows summed
};

// The executions of every instance of a fake backend, in the order they started. Thread-safe.
class FakeBackendLog {
 public:
  void Record(FakeExecution execution);
  std::vector<FakeExecution> executions() const;
  // Requests per execution, in order.
  std::vector<size_t> batch_requests() const;
  // Rows per execution, in order.
  std::vector<int64_t> batch_rows() const;

 private:
  mutable std::mutex mu_;
  std::vector<FakeExecution> executions_;
};

std::unique_ptr<Backend> MakeFakeBackend();
// Records into `log`, which every instance it loads shares.
std::unique_ptr<Backend> MakeFakeBackend(std::shared_ptr<FakeBackendLog> log);

}  // namespace berth::worker
