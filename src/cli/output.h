#pragma once
// How the CLI prints resources: JSON (the default, as `az` does), YAML, or an aligned table.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

enum class OutputFormat { kJson, kYaml, kTable };

// "json", "yaml" or "table".
absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name);

// What is printed, which decides the table's columns.
enum class ResourceKind {
  kEndpoint,
  kDeployment,
  kModel,
  kBatchEndpoint,
  kBatchDeployment,
  kCompute,
  kData,
  kJob,
  kOther
};

// Two-space indented JSON and a final newline.
std::string ToJsonText(const nlohmann::json& value);

// Block-style YAML that reads back as the same JSON: strings that YAML would take for numbers,
// booleans or null are quoted.
std::string ToYamlText(const nlohmann::json& value);

// Columns padded to their widest cell, a dashed rule under the header, one line per row.
std::string FormatTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);

// A resource, or an array of them, as a table. Endpoints: Name, AuthMode, State, Traffic,
// Mirror, ScoringUri. Deployments: Name, Endpoint, State, Instances (ready/count), InstanceType.
// Models: Name, Version, Type, CreatedAt, Description.
// Batch endpoints: Name, DefaultDeployment. Batch deployments: Name, Endpoint, Model, Compute,
// InstanceCount. Computes: Name, Type, Tier, Min, Max. Data: Name, Version, Type, Path.
// Jobs: Name, Status, Endpoint, Deployment, Progress (mini-batches), Created.
// Anything else: an object as Key/Value rows; an array of objects with one column per key.
std::string ToTableText(const nlohmann::json& value, ResourceKind kind);

std::string Render(const nlohmann::json& value, OutputFormat format, ResourceKind kind);

// Prints each string of the answer's `warnings` array as "Warning: <text>".
void PrintWarnings(const nlohmann::json& answer, std::ostream& err);

}  // namespace berth::cli
