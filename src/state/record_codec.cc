#include "state/record_codec.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::state::internal {
namespace {

using nlohmann::json;

struct StateName {
  core::ProvisioningState state;
  const char* text;
};
constexpr StateName kStateNames[] = {
    {core::ProvisioningState::kCreating, "Creating"},
    {core::ProvisioningState::kUpdating, "Updating"},
    {core::ProvisioningState::kSucceeded, "Succeeded"},
    {core::ProvisioningState::kFailed, "Failed"},
    {core::ProvisioningState::kDeleting, "Deleting"},
};

}  // namespace

const char* StateText(core::ProvisioningState state) {
  for (const StateName& entry : kStateNames) {
    if (entry.state == state) return entry.text;
  }
  return "Unknown";  // unreachable for valid enum values; ParseStateText rejects it
}

absl::StatusOr<core::ProvisioningState> ParseStateText(const std::string& text,
                                                       absl::string_view row) {
  for (const StateName& entry : kStateNames) {
    if (text == entry.text) return entry.state;
  }
  return absl::DataLossError(
      absl::StrCat(row, ": stored provisioning state '", text, "' is not a known state"));
}

absl::StatusOr<std::string> EncodeJson(const json& value, absl::string_view row,
                                       absl::string_view field) {
  try {
    return value.dump();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(row, ": ", field, " cannot be stored as JSON: ", e.what()));
  }
}

absl::StatusOr<json> DecodeJson(const std::string& text, absl::string_view row,
                                absl::string_view field) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    return absl::DataLossError(
        absl::StrCat(row, ": stored ", field, " is not valid JSON: ", e.what()));
  }
}

absl::StatusOr<std::string> EncodeWarnings(const std::vector<std::string>& warnings,
                                           absl::string_view row) {
  return EncodeJson(json(warnings), row, "warnings");
}

absl::StatusOr<std::vector<std::string>> DecodeWarnings(const std::string& text,
                                                        absl::string_view row) {
  absl::StatusOr<json> value = DecodeJson(text, row, "warnings");
  if (!value.ok()) return value.status();
  if (!value->is_array()) {
    return absl::DataLossError(absl::StrCat(row, ": stored warnings are not a JSON array"));
  }
  std::vector<std::string> warnings;
  warnings.reserve(value->size());
  for (const json& item : *value) {
    if (!item.is_string()) {
      return absl::DataLossError(
          absl::StrCat(row, ": stored warnings hold a non-string item: ", item.dump()));
    }
    warnings.push_back(item.get<std::string>());
  }
  return warnings;
}

absl::StatusOr<json> NormalizeSpec(const json& spec, absl::string_view row) {
  absl::StatusOr<std::string> text = EncodeJson(spec, row, "spec");
  if (!text.ok()) return text.status();
  // Text we just wrote always parses; a failure here would be a library bug, so it is
  // reported rather than assumed away.
  absl::StatusOr<json> parsed = DecodeJson(*text, row, "spec");
  if (!parsed.ok()) return absl::InternalError(parsed.status().message());
  return parsed;
}

absl::StatusOr<StoredJson> EncodeStoredJson(const json& value, absl::string_view row,
                                            absl::string_view field) {
  absl::StatusOr<std::string> text = EncodeJson(value, row, field);
  if (!text.ok()) return text.status();
  absl::StatusOr<json> parsed = DecodeJson(*text, row, field);
  // As in NormalizeSpec: text just written always parses.
  if (!parsed.ok()) return absl::InternalError(parsed.status().message());
  return StoredJson{*std::move(text), *std::move(parsed)};
}

std::string EndpointRow(absl::string_view name) { return absl::StrCat("endpoint '", name, "'"); }

std::string DeploymentRow(absl::string_view endpoint, absl::string_view name) {
  return absl::StrCat("deployment '", name, "' of endpoint '", endpoint, "'");
}

std::string ModelRow(absl::string_view name, absl::string_view version) {
  return absl::StrCat("model '", name, "' version '", version, "'");
}

absl::Status EndpointNotFound(absl::string_view name) {
  return absl::NotFoundError(absl::StrCat(EndpointRow(name), " not found"));
}

absl::Status EndpointExists(absl::string_view name) {
  return absl::AlreadyExistsError(absl::StrCat(EndpointRow(name), " already exists"));
}

absl::Status DeploymentNotFound(absl::string_view endpoint, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat(DeploymentRow(endpoint, name), " not found"));
}

absl::Status DeploymentExists(absl::string_view endpoint, absl::string_view name) {
  return absl::AlreadyExistsError(absl::StrCat(DeploymentRow(endpoint, name), " already exists"));
}

absl::Status StaleEndpoint(absl::string_view name, int64_t expected, int64_t stored) {
  return absl::AbortedError(absl::StrCat("stale write: ", EndpointRow(name),
                                         " was changed by another writer (written at revision ",
                                         expected, ", now at revision ", stored, ")"));
}

absl::Status StaleDeployment(absl::string_view endpoint, absl::string_view name, int64_t expected,
                             int64_t stored) {
  return absl::AbortedError(absl::StrCat("stale write: ", DeploymentRow(endpoint, name),
                                         " was changed by another writer (written at revision ",
                                         expected, ", now at revision ", stored, ")"));
}

absl::Status CheckChangesSince(int64_t revision, size_t limit, int64_t pruned_through,
                               int64_t current) {
  if (limit == 0) return absl::InvalidArgumentError("change feed limit must be at least 1");
  if (revision < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("change feed revision ", revision, " is negative"));
  }
  if (revision > current) {
    return absl::OutOfRangeError(absl::StrCat("change feed revision ", revision,
                                              " is ahead of the store's revision ", current,
                                              "; reload everything"));
  }
  if (revision < pruned_through) {
    return absl::OutOfRangeError(absl::StrCat("changes after revision ", revision,
                                              " are no longer kept (kept after ", pruned_through,
                                              "); reload everything"));
  }
  return absl::OkStatus();
}

std::string FoldName(absl::string_view name) {
  std::string folded(name);
  for (char& c : folded) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return folded;
}

std::string ResourceRow(absl::string_view kind, absl::string_view key) {
  return absl::StrCat(kind, " '", key, "'");
}

absl::Status ResourceNotFound(absl::string_view kind, absl::string_view key) {
  return absl::NotFoundError(absl::StrCat(ResourceRow(kind, key), " not found"));
}

absl::Status CheckResourceWrite(const ResourceWrite& write, bool exists, int64_t stored_revision) {
  using Action = ResourceWrite::Action;
  const ResourceRecord& record = write.record;
  Action action = write.action;
  // A Put carrying a revision was read from the store: it is an update.
  if (action == Action::kPut) {
    if (record.revision == 0) return absl::OkStatus();
    action = Action::kUpdate;
  }
  if (action == Action::kCreate) {
    if (!exists) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat(ResourceRow(record.kind, record.key), " already exists"));
  }
  if (!exists) return ResourceNotFound(record.kind, record.key);
  if (record.revision != 0 && record.revision != stored_revision) {
    return absl::AbortedError(absl::StrCat("stale write: ", ResourceRow(record.kind, record.key),
                                           " was changed by another writer (written at revision ",
                                           record.revision, ", now at revision ", stored_revision,
                                           ")"));
  }
  return absl::OkStatus();
}

std::optional<std::string> PrefixSuccessor(absl::string_view prefix) {
  std::string successor(prefix);
  while (!successor.empty() && static_cast<unsigned char>(successor.back()) == 0xFF) {
    successor.pop_back();
  }
  if (successor.empty()) return std::nullopt;
  successor.back() = static_cast<char>(static_cast<unsigned char>(successor.back()) + 1);
  return successor;
}

absl::Status CheckDeletePrefix(absl::string_view kind, absl::string_view key_prefix) {
  if (!key_prefix.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("refusing to delete every ", kind,
                                                 " record: DeleteResources needs a key prefix"));
}

absl::Status ModelNotFound(absl::string_view name, absl::string_view version) {
  return absl::NotFoundError(absl::StrCat(ModelRow(name, version), " not found"));
}

absl::Status ModelExists(absl::string_view name, absl::string_view version) {
  return absl::AlreadyExistsError(absl::StrCat(ModelRow(name, version), " already exists"));
}

namespace {

// Sort key of a version: integers (any number of digits) first, by value, i.e. by length
// once leading zeros are gone; ties ("1" and "01") and non-integers byte-wise.
std::tuple<bool, size_t, absl::string_view, const std::string&> VersionKey(
    const std::string& version) {
  const bool integer = !version.empty() && std::all_of(version.begin(), version.end(),
                                                       [](char c) { return c >= '0' && c <= '9'; });
  if (!integer) return {true, 0, absl::string_view(), version};
  absl::string_view digits(version);
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  return {false, digits.size(), digits, version};
}

}  // namespace

bool ModelOrderLess(const ModelRecord& a, const ModelRecord& b) {
  if (a.name != b.name) return a.name < b.name;
  return VersionKey(a.version) < VersionKey(b.version);
}

}  // namespace berth::state::internal
