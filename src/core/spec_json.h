#pragma once
// Parsing and validation of endpoint and deployment documents (JSON, as converted from Azure
// ML YAML files), and the reverse conversion. This is the single validator for specs: the
// server runs it on every write, the CLI on files before upload.
//
// Errors are INVALID_ARGUMENT made with berth::InvalidField, so ErrorTarget() names the field
// path ("request_settings.request_timeout_ms", "traffic.blue"). An unknown field is an error
// that suggests the closest known one. Known fields berth does not honour yet are accepted and
// reported in `warnings`.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"

namespace berth::core {

template <typename T>
struct Parsed {
  T spec;
  std::vector<std::string> warnings;
};

// `kind` is "endpoint" or "deployment"; Azure's rule: 3-32 chars, starts with a letter,
// letters, digits and '-', ends alphanumeric. `field` names the offending field in the error.
absl::Status ValidateName(std::string_view kind, std::string_view name, std::string_view field);

absl::StatusOr<Parsed<EndpointSpec>> ParseEndpointSpec(const nlohmann::json& doc);
absl::StatusOr<Parsed<DeploymentSpec>> ParseDeploymentSpec(const nlohmann::json& doc);

struct DeploymentParseOptions {
  // The CLI checks a file before it packs and uploads the folders it names; the server never
  // sets this, since it cannot read `model.path` / `code_configuration.code` on the client.
  bool allow_local_paths = false;
};
absl::StatusOr<Parsed<DeploymentSpec>> ParseDeploymentSpec(const nlohmann::json& doc,
                                                           const DeploymentParseOptions& options);

// OK when berth has a process that can serve `spec` (today: `environment.command` is set);
// otherwise INVALID_ARGUMENT on `environment.command` saying what is missing. Kept apart from
// parsing so it can relax as runners arrive. ParseDeploymentSpec calls it.
absl::Status CheckServable(const DeploymentSpec& spec);

// The error for a deployment whose only serving definition is a container image: berth runs no
// images. INVALID_ARGUMENT on `environment.image`, naming what to give instead (a batch
// deployment cannot give environment.command).
absl::Status ImageOnlyError(const std::string& image, bool batch);

// Full documents with defaults applied, in the YAML field names.
nlohmann::json ToJson(const EndpointSpec& spec);
nlohmann::json ToJson(const DeploymentSpec& spec);

// Merges an update into a stored document as the Azure SDK merges entities: objects merge key
// by key, other values replace; `traffic` and `mirror_traffic` replace as a whole; a null
// value removes the key.
nlohmann::json MergeSpec(const nlohmann::json& base, const nlohmann::json& update);

// Turns `--set` assignments ("a.b=value") into an update document. Values are read as YAML
// scalars (numbers, booleans, null, strings) or YAML flow collections ("[a, b]", "{k: v}").
absl::StatusOr<nlohmann::json> SetAssignmentsToUpdate(const std::vector<std::string>& assignments);

// Parses YAML text into JSON. Plain scalars become numbers/booleans/null where YAML 1.2's
// core schema says so; quoted scalars stay strings. Errors name the line and column.
absl::StatusOr<nlohmann::json> YamlToJson(std::string_view yaml_text);

// The closest candidate by Levenshtein distance (case-insensitive; a swap of two adjacent
// letters counts as one edit) within distance max(2, len(word)/3), or "". Ties go to the
// earlier candidate.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace berth::core
