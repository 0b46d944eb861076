#pragma once
// How the CLI prints a command's result, with `az`'s output formats (-o): json (the default),
// jsonc, yaml, yamlc, table, tsv and none. The colored ones are colored only on a terminal.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

enum class OutputFormat { kJson, kJsonColor, kYaml, kYamlColor, kTable, kTsv, kNone };

// The names -o takes, as `az` spells them.
const std::vector<std::string>& OutputFormatNames();

// One of OutputFormatNames(); INVALID_ARGUMENT otherwise.
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

// JSON with ANSI colors (keys, strings, numbers, literals), for -o jsonc on a terminal.
std::string ToColorJsonText(const nlohmann::json& value);

// YAML with its keys colored, for -o yamlc on a terminal.
std::string ToColorYamlText(const nlohmann::json& value);

// `az -o tsv`: an array gives one line per element, anything else one line. An object's values
// go in key order, separated by tabs; within a line a nested array prints as its length and a
// nested object as an empty cell; strings are written raw, a boolean line as true/false, nested
// booleans and nulls as Python prints them (True, None), as `az` does. No header.
// Objects go in their keys' order: a --query result's in the order the query lists them.
std::string ToTsvText(const nlohmann::ordered_json& value);

// `az -o table` for a result that has no table of its own (a --query result, credentials): one
// row per array element, one column per key of scalar value (its first letter upper-cased; id,
// type and etag skipped), a scalar as a "Result" column, an array as Column1, Column2, ...
std::string ToAutoTableText(const nlohmann::ordered_json& value);

// Columns padded to their widest cell, a dashed rule under the header, one line per row.
std::string FormatTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);

// A resource, or an array of them, as a table. Endpoints: Name, AuthMode, State, Traffic,
// Mirror, ScoringUri. Deployments: Name, Endpoint, State, Instances (ready/count), InstanceType.
// Models: Name, Version, Type, CreatedAt, Description.
// Batch endpoints: Name, DefaultDeployment. Batch deployments: Name, Endpoint, Model, Compute,
// InstanceCount. Computes: Name, Type, Tier, Min, Max. Data: Name, Version, Type, Path.
// Jobs: Name, Status, Endpoint, Deployment, Progress (mini-batches), Created.
// Anything else: ToAutoTableText.
std::string ToTableText(const nlohmann::json& value, ResourceKind kind);

struct RenderOptions {
  OutputFormat format = OutputFormat::kJson;
  bool query_active = false;  // a --query chose what is printed: no resource table applies
  bool color = false;         // stdout is a terminal: jsonc and yamlc are colored
};

// The text -o asks for. A null result prints nothing, whatever the format (as in `az`).
std::string Render(const nlohmann::json& value, ResourceKind kind, const RenderOptions& options);

// A --query result: tsv and table keep its keys' order; json and yaml sort them, as `az` does.
std::string RenderQueryResult(const nlohmann::ordered_json& value, const RenderOptions& options);

// Prints each string of the answer's `warnings` array as "Warning: <text>".
void PrintWarnings(const nlohmann::json& answer, std::ostream& err);

}  // namespace berth::cli
