#pragma once
// `az`'s generic update arguments beyond --set: `--add <path> <value...>` appends to a list and
// `--remove <path> [<index>]` removes a field or a list element. berthd takes partial updates as
// merge documents (core::MergeSpec), so a partial update applies them to the resource as it is
// and sends only the difference.
//
// Paths are dotted fields with list indexes: `environment_variables.A`, `containers[0].env`.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

struct AddRemoveArguments {
  std::vector<std::vector<std::string>> add;     // each: path, then one or more value tokens
  std::vector<std::vector<std::string>> remove;  // each: path, then an optional index
  bool empty() const { return add.empty() && remove.empty(); }
};

// Applies the --add and --remove arguments to `doc`, in that order. An --add value is JSON
// (`'{"a": 1}'`), key=value tokens forming one object, or a string. Errors name the argument
// and are INVALID_ARGUMENT: a path that is not there, a field that is not a list, an index out
// of range.
absl::Status ApplyAddRemove(const AddRemoveArguments& arguments, nlohmann::json& doc);

// The merge document (core::MergeSpec's semantics) that turns `before` into `after`: changed
// and added fields, null for removed ones, lists and the traffic maps as a whole.
nlohmann::json MergeDocumentBetween(const nlohmann::json& before, const nlohmann::json& after);

}  // namespace berth::cli
