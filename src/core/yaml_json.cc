// YAML text -> JSON (YamlToJson) and `--set` assignments -> update documents.

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/spec_json.h"

namespace berth::core {
namespace {

using nlohmann::json;

// Aliases can make a small file expand into a huge (or, with a self-reference, infinite) tree;
// these bounds turn that into an error instead of exhausting the stack or memory.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 1'000'000;

// The subset of YAML 1.2's core schema that JSON can hold (no .inf/.nan, no octal/hex).
json PlainScalarToJson(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(text, kInt)) {
    errno = 0;
    char* end = nullptr;
    long long value = std::strtoll(text.c_str(), &end, 10);
    // Integers beyond int64 stay text rather than silently losing digits.
    if (errno == ERANGE) return text;
    return static_cast<int64_t>(value);
  }
  if (std::regex_match(text, kFloat)) {
    errno = 0;
    double value = std::strtod(text.c_str(), nullptr);
    if (errno == ERANGE) return text;
    return value;
  }
  return text;
}

std::string Position(const YAML::Mark& mark) {
  return absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1);
}

class Converter {
 public:
  absl::StatusOr<json> Convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat(Position(node.Mark()), ": nesting deeper than ", kMaxDepth, " levels"));
    }
    if (++nodes_ > kMaxNodes) {
      return absl::InvalidArgumentError(
          absl::StrCat("document too large: more than ", kMaxNodes, " values after aliases"));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return ScalarToJson(node);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const YAML::Node& item : node) {
          auto value = Convert(item, depth + 1);
          if (!value.ok()) return value.status();
          out.push_back(*std::move(value));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& entry : node) {
          const YAML::Node& key = entry.first;
          if (!key.IsScalar()) {
            return absl::InvalidArgumentError(
                absl::StrCat(Position(key.Mark()), ": mapping keys must be plain strings"));
          }
          const std::string& name = key.Scalar();
          if (out.contains(name)) {
            return absl::InvalidArgumentError(
                absl::StrCat(Position(key.Mark()), ": duplicate key '", name, "'"));
          }
          auto value = Convert(entry.second, depth + 1);
          if (!value.ok()) return value.status();
          out[name] = *std::move(value);
        }
        return out;
      }
    }
    return json(nullptr);
  }

 private:
  static json ScalarToJson(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    // "!" marks a quoted scalar; an explicit !!str asks for a string too.
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return node.Scalar();
    return PlainScalarToJson(node.Scalar());
  }

  size_t nodes_ = 0;
};

absl::Status BadAssignment(const std::string& assignment, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("assignment '", assignment, "': ", why));
}

// Merges `update` into `target` keeping nulls (they mean "remove" to MergeSpec later).
void MergeKeepingNulls(json& target, const json& update) {
  if (!target.is_object() || !update.is_object()) {
    target = update;
    return;
  }
  for (const auto& [key, value] : update.items()) {
    if (target.contains(key)) {
      MergeKeepingNulls(target[key], value);
    } else {
      target[key] = value;
    }
  }
}

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r\n";
  size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

absl::StatusOr<json> YamlToJson(std::string_view yaml_text) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(absl::StrCat(Position(e.mark), ": ", e.msg));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read YAML: ", e.what()));
  }
  if (documents.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("expected one YAML document, found ",
                                                   documents.size(), " (separated by ---)"));
  }
  if (documents.empty() || documents[0].IsNull()) {
    return absl::InvalidArgumentError("empty document");
  }
  try {
    Converter converter;
    return converter.Convert(documents[0], 0);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
}

absl::StatusOr<json> SetAssignmentsToUpdate(const std::vector<std::string>& assignments) {
  json update = json::object();
  for (const std::string& assignment : assignments) {
    size_t equals = assignment.find('=');
    if (equals == std::string::npos) {
      return BadAssignment(assignment, "expected <field.path>=<value>");
    }
    const std::string path = Trim(assignment.substr(0, equals));
    if (path.empty()) return BadAssignment(assignment, "the field path before '=' is empty");
    std::vector<std::string> segments;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string segment = path.substr(start, dot == std::string::npos ? dot : dot - start);
      if (segment.empty()) {
        return BadAssignment(assignment, "the field path has an empty segment");
      }
      segments.push_back(std::move(segment));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }

    const std::string text = Trim(assignment.substr(equals + 1));
    json value;
    if (text.empty()) {
      value = nullptr;
    } else if (text[0] == '[' || text[0] == '{' || text[0] == '"' || text[0] == '\'') {
      // Flow collections and quoted strings go through the YAML reader.
      auto parsed = YamlToJson(text);
      if (!parsed.ok()) return BadAssignment(assignment, parsed.status().message());
      value = *std::move(parsed);
    } else {
      // Anything else is one plain scalar, even when it holds ": " or "#", which would make
      // YAML read a mapping or a comment.
      value = PlainScalarToJson(text);
    }

    json nested = std::move(value);
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
      json level = json::object();
      level[*it] = std::move(nested);
      nested = std::move(level);
    }
    MergeKeepingNulls(update, nested);
  }
  return update;
}

}  // namespace berth::core
