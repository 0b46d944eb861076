#include "gateway/access_log.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <iterator>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "fmt/format.h"
#include "spdlog/details/log_msg.h"
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

namespace {

// Appends `text` as a JSON string. Bytes that are not UTF-8 become U+FFFD, as nlohmann's
// `replace` handler does: a path may hold anything a client sent.
void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, the allowed range of the second
    // byte (no overlong forms, no surrogates, nothing past U+10FFFF), then continuations.
    size_t length = 0;
    unsigned char low = 0x80, high = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;
      if (c == 0xed) high = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;
      if (c == 0xf4) high = 0x8f;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      valid = k == 1 ? (b >= low && b <= high) : (b >= 0x80 && b <= 0xbf);
    }
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

void AppendField(std::string& out, std::string_view name, std::string_view value) {
  out += out.size() == 1 ? "\"" : ",\"";
  out += name;
  out += "\":";
  AppendJsonString(out, value);
}

template <typename Number>
requires std::is_arithmetic_v<Number>
void AppendField(std::string& out, std::string_view name, Number value) {
  out += ",\"";
  out += name;
  out += "\":";
  fmt::format_to(std::back_inserter(out), "{}", value);
}

}  // namespace

// Written by hand rather than through a JSON object: this runs once per request on a
// data-plane thread, and building a document costs a dozen allocations.
std::string FormatAccessLogLine(const AccessLogEntry& entry) {
  std::string line;
  line.reserve(256 + entry.path.size());
  line += '{';
  AppendField(line, "time", Rfc3339Millis(entry.time));
  AppendField(line, "request_id", entry.request_id);
  AppendField(line, "protocol", entry.protocol);
  AppendField(line, "method", entry.method);
  AppendField(line, "path", entry.path);
  AppendField(line, "endpoint", entry.endpoint);
  AppendField(line, "deployment", entry.deployment);
  AppendField(line, "instance", entry.instance);
  AppendField(line, "status", entry.status);
  AppendField(line, "queue_ms", Round(entry.queue_ms));
  AppendField(line, "model_ms", Round(entry.model_ms));
  AppendField(line, "total_ms", Round(entry.total_ms));
  AppendField(line, "attempts", entry.attempts);
  AppendField(line, "bytes_in", entry.bytes_in);
  AppendField(line, "bytes_out", entry.bytes_out);
  line += '}';
  return line;
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
    return std::unique_ptr<RotatingAccessLog>(
        new RotatingAccessLog(std::move(sink), std::max<size_t>(1, options.queue_lines)));
  } catch (const std::exception& e) {
    return absl::InternalError("cannot open the access log " + options.path.string() + ": " +
                               e.what());
  }
}

RotatingAccessLog::RotatingAccessLog(std::shared_ptr<spdlog::sinks::sink> sink, size_t queue_lines)
    : sink_(std::move(sink)), queue_lines_(queue_lines) {
  writer_ = std::thread([this] { WriterLoop(); });
}

RotatingAccessLog::~RotatingAccessLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
}

void RotatingAccessLog::Write(const AccessLogEntry& entry) {
  std::string line = FormatAccessLogLine(entry);
  absl::MutexLock lock(&mu_);
  if (queued_.size() >= queue_lines_) {
    ++dropped_;
    return;
  }
  queued_.push_back(std::move(line));
}

uint64_t RotatingAccessLog::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

void RotatingAccessLog::WriterLoop() {
  constexpr size_t kBlockLines = 1024;
  const absl::Duration kEvery = absl::Milliseconds(100);
  std::vector<std::string> block;
  for (bool last = false; !last;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || queued_.size() >= kBlockLines;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), kEvery);
      block.swap(queued_);
      last = stopping_;
    }
    if (block.empty()) continue;
    try {
      for (const std::string& line : block) {
        spdlog::details::log_msg message(spdlog::source_loc{}, "access", spdlog::level::info, line);
        sink_->log(message);
      }
      sink_->flush();
    } catch (const std::exception&) {
      // Best effort: a full disk must not stop the writer; the next block tries again.
    }
    block.clear();
  }
}

}  // namespace berth::gateway
