#include "cli/job_progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace berth::cli {
namespace {

using nlohmann::json;

constexpr int kBarWidth = 20;

int64_t Count(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::optional<int64_t> Total(const json& object) {
  int64_t total = Count(object, "total");
  return total > 0 ? std::optional<int64_t>(total) : std::nullopt;
}

std::optional<double> Number(const json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  double value = it->get<double>();
  return std::isfinite(value) && value >= 0 ? std::optional<double>(value) : std::nullopt;
}

std::string OfTotal(int64_t done, const std::optional<int64_t>& total) {
  return absl::StrCat(done, "/", total ? absl::StrCat(*total) : "?");
}

// The parts both renderings share, in order.
std::vector<std::string> Parts(const JobProgress& p) {
  std::vector<std::string> parts = {
      "mini-batches " +
          OfTotal(p.mini_batches_succeeded + p.mini_batches_failed, p.mini_batches_total),
      "items " + OfTotal(p.items_succeeded + p.items_failed, p.items_total),
      absl::StrCat("failed ", p.items_total || p.items_failed > 0 || p.items_succeeded > 0
                                  ? p.items_failed
                                  : p.mini_batches_failed)};
  if (p.items_per_second) parts.push_back(absl::StrFormat("%.1f items/s", *p.items_per_second));
  if (p.eta_seconds) parts.push_back("ETA " + FormatEta(*p.eta_seconds));
  return parts;
}

}  // namespace

JobProgress ParseJobProgress(const json& progress) {
  JobProgress p;
  if (!progress.is_object()) return p;
  const json mini_batches = progress.value("mini_batches", json::object());
  const json items = progress.value("items", json::object());
  p.mini_batches_total = Total(mini_batches);
  p.mini_batches_succeeded = Count(mini_batches, "succeeded");
  p.mini_batches_failed = Count(mini_batches, "failed");
  p.items_total = Total(items);
  p.items_succeeded = Count(items, "succeeded");
  p.items_failed = Count(items, "failed");
  p.items_per_second = Number(progress, "items_per_second");
  p.eta_seconds = Number(progress, "eta_seconds");
  return p;
}

std::string FormatEta(double seconds) {
  const int64_t whole = seconds > 0 ? static_cast<int64_t>(std::ceil(seconds)) : 0;
  if (whole < 60) return absl::StrCat(whole, "s");
  if (whole < 3600) return absl::StrFormat("%dm%02ds", whole / 60, whole % 60);
  return absl::StrFormat("%dh%02dm", whole / 3600, (whole % 3600) / 60);
}

std::optional<int> PercentDone(const JobProgress& p) {
  auto percent = [](int64_t done, int64_t total) {
    return static_cast<int>(std::clamp<int64_t>(done * 100 / total, 0, 100));
  };
  if (p.mini_batches_total) {
    return percent(p.mini_batches_succeeded + p.mini_batches_failed, *p.mini_batches_total);
  }
  if (p.items_total) return percent(p.items_succeeded + p.items_failed, *p.items_total);
  return std::nullopt;
}

std::string FormatProgressBar(const JobProgress& p) {
  const std::optional<int> percent = PercentDone(p);
  const int filled = percent ? *percent * kBarWidth / 100 : 0;
  std::string bar = "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "] ";
  absl::StrAppend(&bar, percent ? absl::StrFormat("%3d%%", *percent) : std::string("  ?%"));
  return absl::StrCat(bar, " | ", absl::StrJoin(Parts(p), " | "));
}

std::string FormatProgressLine(const JobProgress& p) {
  return "progress: " + absl::StrJoin(Parts(p), ", ");
}

std::string FormatProgressCell(const json& job) {
  if (!job.is_object() || !job.contains("progress")) return "";
  const JobProgress p = ParseJobProgress(job["progress"]);
  const std::string counts =
      OfTotal(p.mini_batches_succeeded + p.mini_batches_failed, p.mini_batches_total);
  const std::optional<int> percent = PercentDone(p);
  return percent ? absl::StrCat(counts, " (", *percent, "%)") : counts;
}

bool IsTerminalJobStatus(const std::string& status) {
  return status == "Completed" || status == "Failed" || status == "Canceled";
}

namespace {

// The progress on stderr: a bar redrawn in place on a terminal, else a line per change.
class ProgressView {
 public:
  ProgressView(std::ostream* err, bool live) : err_(err), live_(live) {}

  void Show(const std::string& status, const json& job) {
    if (err_ == nullptr) return;
    const bool has_progress = job.is_object() && job.contains("progress");
    const JobProgress progress = has_progress ? ParseJobProgress(job["progress"]) : JobProgress{};
    if (live_) {
      std::string text = status;
      if (has_progress) absl::StrAppend(&text, " ", FormatProgressBar(progress));
      if (text == shown_) return;
      *err_ << "\r" << text << "\x1b[K" << std::flush;
      shown_ = std::move(text);
      open_ = true;
      return;
    }
    if (status != last_status_) *err_ << "status: " << status << "\n" << std::flush;
    last_status_ = status;
    // Only the counts decide: rate and ETA change on every poll.
    JobProgress counts = progress;
    counts.items_per_second.reset();
    counts.eta_seconds.reset();
    if (has_progress && counts != last_counts_) {
      *err_ << FormatProgressLine(progress) << "\n" << std::flush;
      last_counts_ = counts;
    }
  }

  // Takes the bar off the line so that log text or a final message starts clean; Show redraws.
  void Clear() {
    if (!open_) return;
    *err_ << "\r\x1b[K" << std::flush;
    shown_.clear();
    open_ = false;
  }

  // Leaves the last bar on screen and moves past it.
  void Finish() {
    if (open_) *err_ << "\n" << std::flush;
    open_ = false;
  }

 private:
  std::ostream* err_;
  bool live_;
  std::string shown_;
  bool open_ = false;
  std::string last_status_;
  JobProgress last_counts_;
};

}  // namespace

absl::StatusOr<json> StreamJobLog(const JobLogPollFn& poll, const WaitEnv& env, std::ostream& out,
                                  std::chrono::seconds unavailable_limit) {
  ProgressView view(env.progress, env.live);
  int64_t offset = 0;
  bool terminal_seen = false;
  std::optional<SteadyTime> unavailable_since;
  for (;;) {
    absl::StatusOr<json> answer = poll(offset);
    if (!answer.ok()) {
      if (answer.status().code() != absl::StatusCode::kUnavailable) {
        view.Finish();
        return answer.status();
      }
      if (!unavailable_since) unavailable_since = env.clock->Now();
      if (env.clock->Now() - *unavailable_since >= unavailable_limit) {
        view.Finish();
        return answer.status();
      }
      env.sleep(env.interval);
      continue;
    }
    unavailable_since.reset();
    if (!answer->is_object() || !answer->contains("job") || !(*answer)["job"].is_object()) {
      view.Finish();
      return absl::InternalError("berthd answered the job log request without the job");
    }
    const json& job = (*answer)["job"];
    const std::string text = answer->value("text", "");
    if (!text.empty()) {
      view.Clear();
      out << text << std::flush;
    }
    if (auto next = answer->find("offset"); next != answer->end() && next->is_number_integer()) {
      offset = std::max(offset, next->get<int64_t>());
    }
    const std::string status = job.value("status", "");
    view.Show(status.empty() ? "Unknown" : status, job);
    // The log may still grow between the read that saw the terminal status and that status;
    // one more read that brings nothing ends it.
    if (terminal_seen && text.empty()) {
      view.Finish();
      return job;
    }
    if (IsTerminalJobStatus(status)) {
      terminal_seen = true;
      continue;  // drain without waiting
    }
    env.sleep(env.interval);
  }
}

}  // namespace berth::cli
