#pragma once
// AccessLog: one structured line per finished data-plane request (docs/metrics.md). The line
// holds names, figures and the request id, never a header value that could carry a credential,
// and the path without its query string.
//
// Threading: Write() may be called from any thread, and never blocks on I/O: a data-plane
// thread hands the line over and goes on.
// Errors: writing is best effort; a line that cannot be written (a full queue, a full disk) is
// lost rather than slowing requests.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"

namespace spdlog::sinks {
class sink;
}  // namespace spdlog::sinks

namespace berth::gateway {

struct AccessLogEntry {
  SystemTime time;  // the request's arrival
  std::string request_id;
  std::string protocol;  // "http" or "grpc"
  std::string method;
  std::string path;        // without the query string
  std::string endpoint;    // "" unless the caller proved it may use the endpoint
  std::string deployment;  // "" before a deployment was chosen
  int64_t instance = 0;    // the instance sent to last; 0 when none was
  int status = 0;
  double queue_ms = 0;
  double model_ms = 0;
  double total_ms = 0;
  int attempts = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

// The entry as one JSON object without a line break, fields in the order above; `time` is
// RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.123Z"). Invalid UTF-8 is replaced.
std::string FormatAccessLogLine(const AccessLogEntry& entry);

class AccessLog {
 public:
  virtual ~AccessLog() = default;
  // Records one request. Any thread; never blocks.
  virtual void Write(const AccessLogEntry& entry) = 0;
};

struct RotatingAccessLogOptions {
  std::filesystem::path path;         // its folder is created if needed
  uint64_t max_bytes = 100ull << 20;  // a file rotates before it would grow past this
  size_t rotated_files = 5;           // kept besides `path`: access.1.log (newest) ... access.N.log
  size_t queue_lines = 65536;         // lines waiting for the writer; beyond, new ones are dropped
};

// Lines are queued in memory (bounded: beyond `queue_lines` waiting, new ones are dropped and
// counted, so a data-plane thread never waits) and written in blocks by one background thread
// into spdlog's size-rotated file sink, every 100 ms or sooner when a block is full. No thread
// is woken per request: on cores shared with the data plane a wake-up per line costs more than
// the line. A crash loses at most the last 100 ms of lines.
class RotatingAccessLog final : public AccessLog {
 public:
  // Opens (appends to) the file. INTERNAL when it cannot be created.
  static absl::StatusOr<std::unique_ptr<RotatingAccessLog>> Open(RotatingAccessLogOptions options);
  // Writes what is queued, then stops the background thread.
  ~RotatingAccessLog() override;
  RotatingAccessLog(const RotatingAccessLog&) = delete;
  RotatingAccessLog& operator=(const RotatingAccessLog&) = delete;

  void Write(const AccessLogEntry& entry) override;
  // Lines dropped because the queue was full.
  uint64_t dropped() const;

 private:
  RotatingAccessLog(std::shared_ptr<spdlog::sinks::sink> sink, size_t queue_lines);
  void WriterLoop();

  std::shared_ptr<spdlog::sinks::sink> sink_;
  const size_t queue_lines_;
  mutable absl::Mutex mu_;
  std::vector<std::string> queued_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace berth::gateway
