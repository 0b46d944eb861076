#pragma once
// What batch_service.cc and batch_service_jobs.cc share; not part of the service's interface.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "core/batch_spec.h"
#include "state/state_store.h"

namespace berth::batch::service_internal {

// Azure's message when an invocation names no deployment and the endpoint has no default.
inline constexpr char kNoDefaultDeployment[] =
    "No valid deployments to route to. Please check that the endpoint has at least one "
    "deployment with positive weight values or use a deployment specific header to route.";

// "2026-12-06T18:01:54Z"; "" for 0.
std::string IsoTime(int64_t ms);
// "<first>/<rest>" split at the first '/' (page tokens).
std::pair<std::string, std::string> SplitToken(std::string_view token);
// Azure's job names: letters, digits, '-' and '_', starting with a letter or digit.
absl::Status ValidateJobName(const std::string& name);
// Whether `folder` holds a file anywhere below it.
bool HoldsFiles(const std::filesystem::path& folder);

// "'<shown>' is a folder; use type uri_folder" (INVALID_ARGUMENT on `field`) when what `host`
// is on disk is not `type`.
absl::Status CheckDataType(const std::filesystem::path& host, core::DataType type,
                           std::string_view shown, std::string_view field);

// A data asset record, parsed (with its archived flag).
struct DataRead {
  state::ResourceRecord record;
  core::DataAsset asset;
};
absl::StatusOr<DataRead> ParseDataRecord(const state::ResourceRecord& record);

}  // namespace berth::batch::service_internal
