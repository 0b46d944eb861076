#pragma once
// JobLog: a job's logs, laid out as Azure's batch jobs lay them out (docs/batch.md, "Job
// folder"): azureml-logs/70_driver_log.txt (what `berth job stream` follows; the same lines in
// logs/sys/master_role.txt), logs/job_progress_overview.txt, logs/job_result.txt,
// logs/job_error.txt, logs/sys/job_report/processed_mini-batches.csv (one row per try),
// logs/user/error.txt and logs/user/error/<node>/process<NNN>.txt (failed tries), and
// logs/user/stdout/<node>/process<NNN>.stdout.txt (each worker's output, written by the
// worker). Appends survive restarts: a resumed job keeps writing the same files.
//
// Thread-safety: all methods may be called concurrently. File errors are ignored (logging
// must not fail a job); the driver log is opened per line so a reader never sees a torn line.

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "batch/job_record.h"
#include "common/clock.h"

namespace berth::batch {

class JobLog {
 public:
  JobLog(JobPaths paths, const Clock& clock);

  // One line in the driver log and master_role.txt, prefixed with the UTC time.
  void Driver(const std::string& line);

  // One try of a mini-batch, finished: a row in processed_mini-batches.csv, and for a failure
  // the error files.
  struct Try {
    int64_t mini_batch = 0;
    int attempt = 0;
    int node = 0;
    int process = 0;
    bool succeeded = false;
    int64_t items = 0;
    double seconds = 0;
    std::string error;
    std::vector<std::string> files;
  };
  // Succeeded tries are buffered until the next Flush (the scheduler flushes when it records
  // progress), failed ones written at once.
  void Record(const Try& attempt);
  void Flush();

  void ProgressOverview(const std::string& text);     // replaces the file
  void Result(const std::string& text, bool failed);  // job_result.txt (+ job_error.txt)

  // Where worker (node, process) writes its output.
  std::filesystem::path WorkerStdout(int node, int process) const;

  static std::string ProcessName(int process);  // "process001"

 private:
  std::string Stamp() const;
  void Append(const std::filesystem::path& file, const std::string& text);

  JobPaths paths_;
  const Clock& clock_;
  std::mutex mu_;
  std::ofstream tries_;  // processed_mini-batches.csv, kept open
};

}  // namespace berth::batch
