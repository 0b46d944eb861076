#pragma once
// Waiting and reading helpers shared by the driver tests that run real processes. Every wait is
// bounded, so an instance that never does what a test expects fails the test instead of
// hanging it.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "compute/compute_driver.h"

namespace berth::compute::testing {

// Polls `condition` every 10 ms until it holds or `deadline` passes; returns its last value.
inline bool WaitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

// The whole file, "" when it cannot be read.
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls driver.Usage(id) until the instance has used `cpu_seconds` of CPU and holds some
// memory; `last` gets the last reading (for the failure message). False on timeout.
inline bool WaitForBusyUsage(ComputeDriver& driver, InstanceId id, ResourceUsage& last,
                             double cpu_seconds = 0.2) {
  return WaitUntil([&] {
    absl::StatusOr<ResourceUsage> usage = driver.Usage(id);
    if (!usage.ok()) return false;
    last = *usage;
    return usage->cpu_seconds >= cpu_seconds && usage->rss_bytes > 0;
  });
}

}  // namespace berth::compute::testing
