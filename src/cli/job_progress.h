#pragma once
// Following a batch job (docs/batch.md, "Job as returned"): its progress as a bar or a line, and
// `berth job stream`'s loop, which polls GET /jobs/<j>/log?offset=N, copies the driver log to
// stdout as it grows and shows the progress on stderr: on a terminal one bar redrawn in place,
// otherwise a line each time the counts change.

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "cli/wait.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

inline constexpr std::chrono::milliseconds kJobStreamInterval{500};

// A job's `progress`; a count the server did not give (or gave as 0 total) is unknown.
struct JobProgress {
  std::optional<int64_t> mini_batches_total;
  int64_t mini_batches_succeeded = 0;
  int64_t mini_batches_failed = 0;
  std::optional<int64_t> items_total;
  int64_t items_succeeded = 0;
  int64_t items_failed = 0;
  std::optional<double> items_per_second;
  std::optional<double> eta_seconds;
  bool operator==(const JobProgress&) const = default;
};

// Reads a job's `progress` object; anything missing or malformed stays unknown or 0.
JobProgress ParseJobProgress(const nlohmann::json& progress);

// Whole seconds, rounded up: "0s", "59s", "1m05s", "2h03m".
std::string FormatEta(double seconds);

// The share of the job done: mini-batches processed (succeeded or failed) over their total, or
// items when the mini-batch total is unknown; nullopt when neither total is known.
std::optional<int> PercentDone(const JobProgress& progress);

// "[#######.............]  35% | mini-batches 4/10 | items 20/50 | failed 0 | 12.5 items/s |
// ETA 3s": processed counts over totals ("?" when unknown); `failed` counts failed items (failed
// mini-batches when items are unknown); rate and ETA are left out while unknown.
std::string FormatProgressBar(const JobProgress& progress);

// The same facts on one plain line: "progress: mini-batches 4/10, items 20/50, failed 0,
// 12.5 items/s, ETA 3s".
std::string FormatProgressLine(const JobProgress& progress);

// A table cell: "4/10 (40%)", "4/?" while the total is unknown, "" with no progress at all.
std::string FormatProgressCell(const nlohmann::json& job);

// Completed, Failed and Canceled: the job will not change any more.
bool IsTerminalJobStatus(const std::string& status);

// One GET /jobs/<j>/log?offset=<offset>: {"offset": next, "text": ..., "job": {...}}.
using JobLogPollFn = std::function<absl::StatusOr<nlohmann::json>(int64_t offset)>;

// Streams the log to `out` and the progress to `env.progress` (a bar when `env.live`), polling
// every `env.interval` until the job is terminal and its log drained (one more empty read after
// the terminal status). Returns the final job. UNAVAILABLE answers (berthd restarting) are
// retried for up to `unavailable_limit` in a row; other errors end the stream.
absl::StatusOr<nlohmann::json> StreamJobLog(
    const JobLogPollFn& poll, const WaitEnv& env, std::ostream& out,
    std::chrono::seconds unavailable_limit = std::chrono::seconds(60));

}  // namespace berth::cli
