#pragma once
// How record fields are written as text, and the errors both stores report, so that
// MemoryStateStore and SqliteStateStore behave alike down to the messages.
//
// Internal to the state component: callers use StateStore.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/spec.h"
#include "nlohmann/json.hpp"
#include "state/state_store.h"

namespace berth::state::internal {

// Stable text for a provisioning state in storage ("Creating", "Succeeded", ...). Owned here
// rather than borrowed from display code so a renamed label never orphans stored rows.
const char* StateText(core::ProvisioningState state);
// DATA_LOSS naming `row` when `text` is not a stored state.
absl::StatusOr<core::ProvisioningState> ParseStateText(const std::string& text,
                                                       absl::string_view row);

// Compact JSON text. INVALID_ARGUMENT naming `row` when the value cannot be written (strings
// that are not UTF-8), so a bad request never reaches storage.
absl::StatusOr<std::string> EncodeJson(const nlohmann::json& value, absl::string_view row,
                                       absl::string_view field);
// DATA_LOSS naming `row` when stored text does not parse.
absl::StatusOr<nlohmann::json> DecodeJson(const std::string& text, absl::string_view row,
                                          absl::string_view field);

// Warnings as a JSON array of strings.
absl::StatusOr<std::string> EncodeWarnings(const std::vector<std::string>& warnings,
                                           absl::string_view row);
absl::StatusOr<std::vector<std::string>> DecodeWarnings(const std::string& text,
                                                        absl::string_view row);

// The spec as a read after a write returns it: numbers and non-finite values pass through JSON
// text exactly as they do when stored in SQLite. The memory store applies it on every write.
absl::StatusOr<nlohmann::json> NormalizeSpec(const nlohmann::json& spec, absl::string_view row);

// A JSON value stored as text: the text, and the value as reading the text back gives it.
struct StoredJson {
  std::string text;
  nlohmann::json value;
};
// INVALID_ARGUMENT naming `row` and `field` as EncodeJson.
absl::StatusOr<StoredJson> EncodeStoredJson(const nlohmann::json& value, absl::string_view row,
                                            absl::string_view field);

// Row labels for messages: "endpoint 'e'", "deployment 'd' of endpoint 'e'" and
// "model 'm' version '1'".
std::string EndpointRow(absl::string_view name);
std::string DeploymentRow(absl::string_view endpoint, absl::string_view name);
std::string ModelRow(absl::string_view name, absl::string_view version);

absl::Status EndpointNotFound(absl::string_view name);
absl::Status EndpointExists(absl::string_view name);
absl::Status DeploymentNotFound(absl::string_view endpoint, absl::string_view name);
absl::Status DeploymentExists(absl::string_view endpoint, absl::string_view name);
// ABORTED: the stored record has revision `stored`, the write expected `expected`.
absl::Status StaleEndpoint(absl::string_view name, int64_t expected, int64_t stored);
absl::Status StaleDeployment(absl::string_view endpoint, absl::string_view name, int64_t expected,
                             int64_t stored);

// The checks ChangesSince makes before reading, shared so both stores answer alike: `revision`
// must lie within [pruned_through, current] and `limit` be at least 1. Changes after
// `pruned_through` are all kept.
absl::Status CheckChangesSince(int64_t revision, size_t limit, int64_t pruned_through,
                               int64_t current);

// Endpoint and deployment names compare by this key: ASCII letters folded to lower case,
// every other byte as is (SQLite's NOCASE collation).
std::string FoldName(absl::string_view name);

// ---- Resources ----

// "<kind> '<key>'", e.g. "job 'j1'".
std::string ResourceRow(absl::string_view kind, absl::string_view key);
absl::Status ResourceNotFound(absl::string_view kind, absl::string_view key);
// Whether `write` may apply to the stored record (`exists`, with `stored_revision`), by the rules
// of StateStore::CommitResources: ALREADY_EXISTS, NOT_FOUND or ABORTED naming the record, else OK.
absl::Status CheckResourceWrite(const ResourceWrite& write, bool exists, int64_t stored_revision);
// The least string greater than every string that starts with `prefix` (byte-wise), nullopt when
// there is none ("" or all bytes 0xFF): keys with the prefix are exactly those in
// [prefix, successor).
std::optional<std::string> PrefixSuccessor(absl::string_view prefix);
// INVALID_ARGUMENT for the "" prefix DeleteResources refuses.
absl::Status CheckDeletePrefix(absl::string_view kind, absl::string_view key_prefix);

absl::Status ModelNotFound(absl::string_view name, absl::string_view version);
absl::Status ModelExists(absl::string_view name, absl::string_view version);

// ListModels order (state_store.h): by name, then integer versions numerically before the
// others byte-wise. A strict total order, so both stores sort alike.
bool ModelOrderLess(const ModelRecord& a, const ModelRecord& b);

}  // namespace berth::state::internal
