#include "cli/generic_update.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "core/spec_json.h"

namespace berth::cli {
namespace {

using nlohmann::json;

// One step of a path: a field name or a list index.
struct PathStep {
  std::string field;
  std::optional<size_t> index;
};

absl::Status BadArgument(const char* flag, const std::vector<std::string>& tokens,
                         std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " ", absl::StrJoin(tokens, " "), ": ", std::string(why)));
}

absl::StatusOr<std::vector<PathStep>> ParsePath(const std::string& path) {
  std::vector<PathStep> steps;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '[') {
      const size_t close = path.find(']', i);
      size_t index = 0;
      if (close == std::string::npos ||
          !absl::SimpleAtoi(path.substr(i + 1, close - i - 1), &index)) {
        return absl::InvalidArgumentError(absl::StrCat("bad list index in path '", path, "'"));
      }
      steps.push_back({"", index});
      i = close + 1;
      if (i < path.size() && path[i] == '.') ++i;
      continue;
    }
    size_t end = path.find_first_of(".[", i);
    if (end == std::string::npos) end = path.size();
    if (end == i)
      return absl::InvalidArgumentError(absl::StrCat("empty field in path '", path, "'"));
    steps.push_back({path.substr(i, end - i), std::nullopt});
    i = end;
    if (i < path.size() && path[i] == '.') ++i;
  }
  if (steps.empty()) return absl::InvalidArgumentError("the path is empty");
  return steps;
}

// The value at `steps` in `doc`, or null when a step is missing.
json* Walk(json& doc, const std::vector<PathStep>& steps, size_t count) {
  json* node = &doc;
  for (size_t s = 0; s < count; ++s) {
    const PathStep& step = steps[s];
    if (step.index) {
      if (!node->is_array() || *step.index >= node->size()) return nullptr;
      node = &(*node)[*step.index];
    } else {
      if (!node->is_object()) return nullptr;
      auto it = node->find(step.field);
      if (it == node->end()) return nullptr;
      node = &*it;
    }
  }
  return node;
}

json AddValue(const std::vector<std::string>& tokens) {
  if (tokens.size() == 1) {
    json parsed = json::parse(tokens[0], nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) return parsed;
    if (tokens[0].find('=') == std::string::npos) return tokens[0];
  }
  json object = json::object();
  for (const std::string& token : tokens) {
    const size_t equals = token.find('=');
    if (equals == std::string::npos) {
      object[token] = nullptr;
      continue;
    }
    absl::StatusOr<json> update = core::SetAssignmentsToUpdate({token});
    object[token.substr(0, equals)] =
        update.ok() ? (*update)[token.substr(0, equals)] : json(token.substr(equals + 1));
  }
  return object;
}

absl::Status ApplyAdd(const std::vector<std::string>& tokens, json& doc) {
  if (tokens.size() < 2) return BadArgument("--add", tokens, "expected a path and a value");
  ASSIGN_OR_RETURN(std::vector<PathStep> steps, ParsePath(tokens[0]));
  json* parent = Walk(doc, steps, steps.size() - 1);
  if (parent == nullptr) return BadArgument("--add", tokens, "no such field");
  json* list = Walk(doc, steps, steps.size());
  const json value = AddValue({tokens.begin() + 1, tokens.end()});
  if (list == nullptr) {
    // A list that is not there yet starts with the value, as for an optional field left out.
    if (steps.back().index || !parent->is_object()) {
      return BadArgument("--add", tokens, "no such field");
    }
    (*parent)[steps.back().field] = json::array({value});
    return absl::OkStatus();
  }
  if (!list->is_array()) {
    return BadArgument("--add", tokens,
                       absl::StrCat("'", tokens[0], "' is not a list (use --set for a field)"));
  }
  list->push_back(value);
  return absl::OkStatus();
}

absl::Status ApplyRemove(const std::vector<std::string>& tokens, json& doc) {
  if (tokens.empty() || tokens.size() > 2) {
    return BadArgument("--remove", tokens, "expected a path and an optional list index");
  }
  ASSIGN_OR_RETURN(std::vector<PathStep> steps, ParsePath(tokens[0]));
  if (tokens.size() == 2) {
    size_t index = 0;
    if (!absl::SimpleAtoi(tokens[1], &index)) {
      return BadArgument("--remove", tokens, "the index must be a non-negative integer");
    }
    steps.push_back({"", index});
  }
  json* parent = Walk(doc, steps, steps.size() - 1);
  const PathStep& last = steps.back();
  if (parent == nullptr) return BadArgument("--remove", tokens, "no such field");
  if (last.index) {
    if (!parent->is_array()) return BadArgument("--remove", tokens, "not a list");
    if (*last.index >= parent->size()) {
      return BadArgument(
          "--remove", tokens,
          absl::StrCat("index out of range: the list has ", parent->size(), " elements"));
    }
    parent->erase(*last.index);
    return absl::OkStatus();
  }
  if (!parent->is_object() || !parent->contains(last.field)) {
    return BadArgument("--remove", tokens, "no such field");
  }
  parent->erase(last.field);
  return absl::OkStatus();
}

void AppendDifference(const json& before, const json& after, json& out, bool top) {
  for (const auto& [key, value] : before.items()) {
    if (!after.contains(key)) out[key] = nullptr;
  }
  for (const auto& [key, value] : after.items()) {
    auto old = before.find(key);
    if (old != before.end() && *old == value) continue;
    const bool whole = top && (key == "traffic" || key == "mirror_traffic");
    if (old != before.end() && old->is_object() && value.is_object() && !whole) {
      json nested = json::object();
      AppendDifference(*old, value, nested, false);
      out[key] = std::move(nested);
    } else {
      out[key] = value;
    }
  }
}

}  // namespace

absl::Status ApplyAddRemove(const AddRemoveArguments& arguments, json& doc) {
  for (const std::vector<std::string>& tokens : arguments.add)
    RETURN_IF_ERROR(ApplyAdd(tokens, doc));
  for (const std::vector<std::string>& tokens : arguments.remove) {
    RETURN_IF_ERROR(ApplyRemove(tokens, doc));
  }
  return absl::OkStatus();
}

json MergeDocumentBetween(const json& before, const json& after) {
  json out = json::object();
  if (!before.is_object() || !after.is_object()) return after;
  AppendDifference(before, after, out, true);
  return out;
}

}  // namespace berth::cli
