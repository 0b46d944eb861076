#include "batch/job_log.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"

namespace berth::batch {

namespace fs = std::filesystem;

namespace {

constexpr char kReadme[] =
    "Logs of a berth batch job (laid out as Azure ML batch jobs lay them out).\n"
    "azureml-logs/70_driver_log.txt      the job's driver: splitting, workers, progress, result\n"
    "logs/job_progress_overview.txt      mini-batches and items done so far\n"
    "logs/job_result.txt                 the result; logs/job_error.txt why it failed\n"
    "logs/sys/master_role.txt            the driver's lines\n"
    "logs/sys/job_report/processed_mini-batches.csv  one row per try of a mini-batch\n"
    "logs/user/error.txt                 one line per failed try\n"
    "logs/user/error/<node>/processNNN.txt  failed tries of one worker, with their files\n"
    "logs/user/stdout/<node>/processNNN.stdout.txt  what the scoring script printed\n";

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}, {"\n", " "}}), "\"");
}

}  // namespace

JobLog::JobLog(JobPaths paths, const Clock& clock) : paths_(std::move(paths)), clock_(clock) {
  std::error_code ec;
  fs::create_directories(paths_.driver_log().parent_path(), ec);
  fs::create_directories(paths_.logs() / "sys" / "job_report", ec);
  fs::create_directories(paths_.logs() / "user" / "stdout", ec);
  fs::create_directories(paths_.logs() / "user" / "error", ec);
  if (!fs::exists(paths_.logs() / "readme.txt", ec)) {
    std::ofstream(paths_.logs() / "readme.txt") << kReadme;
  }
  const fs::path tries = paths_.logs() / "sys" / "job_report" / "processed_mini-batches.csv";
  const bool fresh = !fs::exists(tries, ec);
  tries_.open(tries, std::ios::app);
  if (fresh) {
    tries_ << "mini_batch,attempt,node,process,result,items,elapsed_seconds,finished_at,error,"
              "files\n";
    tries_.flush();
  }
}

std::string JobLog::Stamp() const {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(clock_.WallNow()),
                          absl::UTCTimeZone());
}

std::string JobLog::ProcessName(int process) { return absl::StrFormat("process%03d", process); }

fs::path JobLog::WorkerStdout(int node, int process) const {
  return paths_.logs() / "user" / "stdout" / absl::StrCat("node", node) /
         (ProcessName(process) + ".stdout.txt");
}

void JobLog::Append(const fs::path& file, const std::string& text) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  std::ofstream out(file, std::ios::app);
  out << text;
}

void JobLog::Driver(const std::string& line) {
  std::string text = absl::StrCat(Stamp(), " ", line, "\n");
  std::lock_guard lock(mu_);
  Append(paths_.driver_log(), text);
  Append(paths_.logs() / "sys" / "master_role.txt", text);
}

void JobLog::Record(const Try& t) {
  std::string row = absl::StrCat(
      t.mini_batch, ",", t.attempt, ",node", t.node, ",", ProcessName(t.process), ",",
      t.succeeded ? "succeeded" : "failed", ",", t.items, ",", absl::StrFormat("%.6f", t.seconds),
      ",", Stamp(), ",", CsvField(t.error), ",", CsvField(absl::StrJoin(t.files, " ")), "\n");
  std::lock_guard lock(mu_);
  tries_ << row;
  if (t.succeeded) return;  // flushed with the next failure, Flush(), or at the job's end
  tries_.flush();
  std::string summary =
      absl::StrCat(Stamp(), " mini-batch ", t.mini_batch, " try ", t.attempt, " (node", t.node, "/",
                   ProcessName(t.process), "): ", t.error, "\n");
  Append(paths_.logs() / "user" / "error.txt", summary);
  Append(paths_.logs() / "user" / "error" / absl::StrCat("node", t.node) /
             (ProcessName(t.process) + ".txt"),
         absl::StrCat(summary, "  files: ", absl::StrJoin(t.files, ", "), "\n"));
}

void JobLog::Flush() {
  std::lock_guard lock(mu_);
  tries_.flush();
}

void JobLog::ProgressOverview(const std::string& text) {
  std::lock_guard lock(mu_);
  const fs::path file = paths_.logs() / "job_progress_overview.txt";
  const fs::path tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
}

void JobLog::Result(const std::string& text, bool failed) {
  std::lock_guard lock(mu_);
  std::ofstream(paths_.logs() / "job_result.txt", std::ios::trunc) << text << "\n";
  if (failed) std::ofstream(paths_.logs() / "job_error.txt", std::ios::trunc) << text << "\n";
}

}  // namespace berth::batch
