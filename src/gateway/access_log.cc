#include "gateway/access_log.h"

#include <time.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <system_error>
#include <utility>

#include "nlohmann/json.hpp"
#include "spdlog/async.h"
#include "spdlog/async_logger.h"
#include "spdlog/sinks/rotating_file_sink.h"

namespace berth::gateway {
namespace {

std::string Rfc3339Millis(SystemTime time) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  int64_t millis = since_epoch.count() % 1000;
  time_t seconds = static_cast<time_t>(since_epoch.count() / 1000);
  if (millis < 0) {  // before 1970
    millis += 1000;
    seconds -= 1;
  }
  struct tm utc {};
  gmtime_r(&seconds, &utc);
  char buffer[80];  // room for any int the format could print
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  return buffer;
}

// Microsecond precision is plenty for a log line and keeps it short.
double Round(double ms) { return std::round(ms * 1000) / 1000; }

}  // namespace

std::string FormatAccessLogLine(const AccessLogEntry& entry) {
  nlohmann::ordered_json line;
  line["time"] = Rfc3339Millis(entry.time);
  line["request_id"] = entry.request_id;
  line["protocol"] = entry.protocol;
  line["method"] = entry.method;
  line["path"] = entry.path;
  line["endpoint"] = entry.endpoint;
  line["deployment"] = entry.deployment;
  line["instance"] = entry.instance;
  line["status"] = entry.status;
  line["queue_ms"] = Round(entry.queue_ms);
  line["model_ms"] = Round(entry.model_ms);
  line["total_ms"] = Round(entry.total_ms);
  line["attempts"] = entry.attempts;
  line["bytes_in"] = entry.bytes_in;
  line["bytes_out"] = entry.bytes_out;
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

absl::StatusOr<std::unique_ptr<RotatingAccessLog>> RotatingAccessLog::Open(
    RotatingAccessLogOptions options) {
  std::error_code ec;
  if (options.path.has_parent_path()) {
    std::filesystem::create_directories(options.path.parent_path(), ec);
    if (ec) {
      return absl::InternalError("cannot create the access log's folder " +
                                 options.path.parent_path().string() + ": " + ec.message());
    }
  }
  try {
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        options.path.string(), options.max_bytes, options.rotated_files);
    sink->set_pattern("%v");
    auto pool = std::make_shared<spdlog::details::thread_pool>(options.queue_lines, 1);
    auto logger = std::make_shared<spdlog::async_logger>(
        "access", std::move(sink), pool, spdlog::async_overflow_policy::overrun_oldest);
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);
    return std::unique_ptr<RotatingAccessLog>(
        new RotatingAccessLog(std::move(pool), std::move(logger)));
  } catch (const std::exception& e) {
    return absl::InternalError("cannot open the access log " + options.path.string() + ": " +
                               e.what());
  }
}

RotatingAccessLog::RotatingAccessLog(std::shared_ptr<spdlog::details::thread_pool> pool,
                                     std::shared_ptr<spdlog::async_logger> logger)
    : pool_(std::move(pool)), logger_(std::move(logger)) {}

RotatingAccessLog::~RotatingAccessLog() {
  // Queued lines hold the logger; the pool's destructor writes them before joining its thread.
  logger_.reset();
  pool_.reset();
}

void RotatingAccessLog::Write(const AccessLogEntry& entry) {
  try {
    logger_->info(FormatAccessLogLine(entry));
  } catch (const std::exception&) {
    // Best effort (see the class comment): a line is never worth failing a request.
  }
}

}  // namespace berth::gateway
