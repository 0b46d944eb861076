#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/job_progress.h"
#include "cli/traffic.h"

namespace berth::cli {
namespace {

using nlohmann::json;

// YAML (1.1 or the 1.2 core schema) would read these plain scalars as something other than a
// string.
bool NeedsQuotes(const std::string& text) {
  static const std::regex kNonString(
      "~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF"
      "|y|Y|n|N|[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+"
      "|0o[0-7]+|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)|[0-9]+(:[0-9]+)+"
      // YAML 1.1 timestamps: PyYAML would hand back a datetime for created_at.
      "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?");
  return text.empty() || std::regex_match(text, kNonString);
}

void Emit(YAML::Emitter& out, const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      if (value.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key;
        if (NeedsQuotes(key)) out << YAML::DoubleQuoted;
        out << key << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      if (value.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const json& item : value) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      if (NeedsQuotes(text)) out << YAML::DoubleQuoted;
      out << text;
      break;
    }
    case json::value_t::boolean:
      out << value.get<bool>();
      break;
    case json::value_t::number_integer:
      out << value.get<int64_t>();
      break;
    case json::value_t::number_unsigned:
      out << value.get<uint64_t>();
      break;
    case json::value_t::number_float:
      // JSON's shortest round-trip form is a valid plain YAML float; yaml-cpp's own double
      // formatting would print 0.1 as 0.10000000000000001.
      out << value.dump();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

std::string Cell(const json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Field(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it == object.end() ? "" : Cell(*it);
}

std::vector<std::string> EndpointRow(const json& e) {
  return {
      Field(e, "name"),
      Field(e, "auth_mode"),
      Field(e, "provisioning_state"),
      FormatTrafficRule(e.is_object() ? e.value("traffic", json::object()) : json::object()),
      FormatTrafficRule(e.is_object() ? e.value("mirror_traffic", json::object()) : json::object()),
      Field(e, "scoring_uri")};
}

std::vector<std::string> DeploymentRow(const json& d) {
  std::string instances;
  if (d.is_object()) {
    int ready = 0;
    if (auto it = d.find("instances"); it != d.end() && it->is_array()) {
      for (const json& instance : *it) {
        if (instance.is_object() && instance.value("state", "") == "Ready") ++ready;
      }
    }
    instances = absl::StrCat(ready, "/", Field(d, "instance_count"));
  }
  return {Field(d, "name"), Field(d, "endpoint_name"), Field(d, "provisioning_state"), instances,
          Field(d, "instance_type")};
}

std::vector<std::string> ModelRow(const json& m) {
  return {Field(m, "name"), Field(m, "version"), Field(m, "type"), Field(m, "created_at"),
          Field(m, "description")};
}

std::vector<std::string> BatchEndpointRow(const json& e) {
  const json defaults = e.is_object() ? e.value("defaults", json::object()) : json::object();
  return {Field(e, "name"), Field(defaults, "deployment_name")};
}

// `model` is a reference ("azureml:m:1") or an inline model ({name, path}).
std::string ModelCell(const json& model) {
  if (!model.is_object()) return Cell(model);
  std::string name = Field(model, "name");
  return name.empty() ? Field(model, "path") : name;
}

std::vector<std::string> BatchDeploymentRow(const json& d) {
  std::string instances;
  if (d.is_object()) {
    // The legacy layout keeps instance_count at the root.
    const json resources = d.value("resources", json::object());
    instances = resources.contains("instance_count") ? Field(resources, "instance_count")
                                                     : Field(d, "instance_count");
  }
  return {Field(d, "name"), Field(d, "endpoint_name"),
          ModelCell(d.is_object() ? d.value("model", json()) : json()), Field(d, "compute"),
          instances};
}

std::vector<std::string> ComputeRow(const json& c) {
  return {Field(c, "name"), Field(c, "type"), Field(c, "tier"), Field(c, "min_instances"),
          Field(c, "max_instances")};
}

std::vector<std::string> DataRow(const json& d) {
  return {Field(d, "name"), Field(d, "version"), Field(d, "type"), Field(d, "path")};
}

std::vector<std::string> JobRow(const json& j) {
  return {Field(j, "name"),          Field(j, "status"),
          Field(j, "endpoint_name"), Field(j, "deployment_name"),
          FormatProgressCell(j),     Field(j, "created_at")};
}

// How Python's str() writes a value inside a table cell or a tsv line.
std::string PythonText(const nlohmann::ordered_json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "None";
    case json::value_t::boolean:
      return value.get<bool>() ? "True" : "False";
    case json::value_t::string:
      return value.get<std::string>();
    default:
      return value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

void AppendTsvCell(const nlohmann::ordered_json& value, std::string& line) {
  if (value.is_array()) {
    absl::StrAppend(&line, value.size());
  } else if (!value.is_object()) {
    line += PythonText(value);
  }
}

void AppendTsvLine(const nlohmann::ordered_json& row, std::string& out) {
  if (row.is_object() || row.is_array()) {
    // A resource's keys come sorted, as `az` sorts a dict's; a query's in the order it lists them,
    // as `az` keeps an OrderedDict's.
    const char* separator = "";
    for (const nlohmann::ordered_json& value : row) {
      out += separator;
      AppendTsvCell(value, out);
      separator = "\t";
    }
  } else if (row.is_boolean()) {
    out += row.get<bool>() ? "true" : "false";
  } else {
    AppendTsvCell(row, out);
  }
  out += '\n';
}

// One table row of `item`: column name -> cell.
std::vector<std::pair<std::string, std::string>> AutoTableRow(const nlohmann::ordered_json& item) {
  std::vector<std::pair<std::string, std::string>> cells;
  if (item.is_object()) {
    for (const auto& [key, value] : item.items()) {
      if (key == "id" || key == "type" || key == "etag") continue;
      if (value.is_null() || value.is_object() || value.is_array()) continue;
      std::string column = key;
      if (!column.empty()) column[0] = absl::ascii_toupper(static_cast<unsigned char>(column[0]));
      cells.emplace_back(std::move(column), PythonText(value));
    }
  } else if (item.is_array()) {
    for (size_t i = 0; i < item.size(); ++i) {
      cells.emplace_back(absl::StrCat("Column", i + 1), PythonText(item[i]));
    }
  } else {
    cells.emplace_back("Result", PythonText(item));
  }
  return cells;
}

constexpr char kKeyColor[] = "\x1b[94m";
constexpr char kStringColor[] = "\x1b[32m";
constexpr char kNumberColor[] = "\x1b[36m";
constexpr char kLiteralColor[] = "\x1b[35m";
constexpr char kResetColor[] = "\x1b[0m";

std::string Colored(const char* color, const std::string& text) {
  return absl::StrCat(color, text, kResetColor);
}

void AppendColorJson(const json& value, int depth, std::string& out) {
  const std::string indent(2 * (depth + 1), ' ');
  const std::string closing_indent(2 * depth, ' ');
  switch (value.type()) {
    case json::value_t::object: {
      if (value.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      size_t i = 0;
      for (const auto& [key, item] : value.items()) {
        absl::StrAppend(&out, indent, Colored(kKeyColor, json(key).dump()), ": ");
        AppendColorJson(item, depth + 1, out);
        out += ++i < value.size() ? ",\n" : "\n";
      }
      absl::StrAppend(&out, closing_indent, "}");
      return;
    }
    case json::value_t::array: {
      if (value.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (size_t i = 0; i < value.size(); ++i) {
        out += indent;
        AppendColorJson(value[i], depth + 1, out);
        out += i + 1 < value.size() ? ",\n" : "\n";
      }
      absl::StrAppend(&out, closing_indent, "]");
      return;
    }
    case json::value_t::string:
      out += Colored(kStringColor, value.dump(-1, ' ', false, json::error_handler_t::replace));
      return;
    case json::value_t::boolean:
    case json::value_t::null:
      out += Colored(kLiteralColor, value.dump());
      return;
    default:
      out += Colored(kNumberColor, value.dump());
      return;
  }
}

}  // namespace

const std::vector<std::string>& OutputFormatNames() {
  static const std::vector<std::string> kNames = {"json",  "jsonc", "yaml", "yamlc",
                                                  "table", "tsv",   "none"};
  return kNames;
}

absl::StatusOr<OutputFormat> ParseOutputFormat(std::string_view name) {
  static constexpr OutputFormat kFormats[] = {
      OutputFormat::kJson,  OutputFormat::kJsonColor, OutputFormat::kYaml, OutputFormat::kYamlColor,
      OutputFormat::kTable, OutputFormat::kTsv,       OutputFormat::kNone};
  const std::vector<std::string>& names = OutputFormatNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (name == names[i]) return kFormats[i];
  }
  return absl::InvalidArgumentError(absl::StrCat("--output: expected one of ",
                                                 absl::StrJoin(names, ", "), "; got \"",
                                                 std::string(name), "\""));
}

std::string ToColorJsonText(const json& value) {
  std::string out;
  AppendColorJson(value, 0, out);
  return out + "\n";
}

std::string ToColorYamlText(const json& value) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(ToYamlText(value), '\n', absl::SkipEmpty())) {
    // A mapping key is the text before the first ": " (or a final ':'), after the indent and
    // any "- " of a sequence item; quoted keys never contain ": " in berth's documents.
    const size_t start = line.find_first_not_of(" -");
    size_t colon = line.find(": ");
    if (colon == absl::string_view::npos && absl::EndsWith(line, ":")) colon = line.size() - 1;
    const bool inside_quotes =
        start != absl::string_view::npos && line[start] == '"' &&
        colon != absl::string_view::npos && colon > start &&
        line.substr(start, colon - start).find('"', 1) == absl::string_view::npos;
    if (start == absl::string_view::npos || colon == absl::string_view::npos || colon < start ||
        inside_quotes) {
      absl::StrAppend(&out, line, "\n");
      continue;
    }
    absl::StrAppend(&out, line.substr(0, start),
                    Colored(kKeyColor, std::string(line.substr(start, colon - start))),
                    line.substr(colon), "\n");
  }
  return out;
}

std::string ToTsvText(const nlohmann::ordered_json& value) {
  std::string out;
  if (value.is_array()) {
    for (const nlohmann::ordered_json& row : value) AppendTsvLine(row, out);
  } else {
    AppendTsvLine(value, out);
  }
  return out;
}

std::string ToAutoTableText(const nlohmann::ordered_json& value) {
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  if (value.is_array()) {
    for (const nlohmann::ordered_json& item : value) rows.push_back(AutoTableRow(item));
  } else {
    rows.push_back(AutoTableRow(value));
  }
  std::vector<std::string> columns;
  for (const auto& row : rows) {
    for (const auto& [column, unused] : row) {
      if (std::find(columns.begin(), columns.end(), column) == columns.end()) {
        columns.push_back(column);
      }
    }
  }
  if (columns.empty()) return "";
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : rows) {
    std::vector<std::string> line(columns.size());
    for (const auto& [column, cell] : row) {
      line[std::find(columns.begin(), columns.end(), column) - columns.begin()] = cell;
    }
    cells.push_back(std::move(line));
  }
  return FormatTable(columns, cells);
}

std::string ToJsonText(const json& value) {
  return value.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string ToYamlText(const json& value) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  out.SetIndent(2);
  Emit(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

std::string FormatTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) widths[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      if (i + 1 < widths.size()) cell.resize(widths[i] + 2, ' ');
      out += cell;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers);
  std::vector<std::string> rule;
  for (size_t width : widths) rule.push_back(std::string(width, '-'));
  out += line(rule);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string ToTableText(const json& value, ResourceKind kind) {
  std::vector<std::string> headers;
  std::vector<std::string> (*row)(const json&) = nullptr;
  switch (kind) {
    case ResourceKind::kEndpoint:
      headers = {"Name", "AuthMode", "State", "Traffic", "Mirror", "ScoringUri"};
      row = EndpointRow;
      break;
    case ResourceKind::kDeployment:
      headers = {"Name", "Endpoint", "State", "Instances", "InstanceType"};
      row = DeploymentRow;
      break;
    case ResourceKind::kModel:
      headers = {"Name", "Version", "Type", "CreatedAt", "Description"};
      row = ModelRow;
      break;
    case ResourceKind::kBatchEndpoint:
      headers = {"Name", "DefaultDeployment"};
      row = BatchEndpointRow;
      break;
    case ResourceKind::kBatchDeployment:
      headers = {"Name", "Endpoint", "Model", "Compute", "InstanceCount"};
      row = BatchDeploymentRow;
      break;
    case ResourceKind::kCompute:
      headers = {"Name", "Type", "Tier", "Min", "Max"};
      row = ComputeRow;
      break;
    case ResourceKind::kData:
      headers = {"Name", "Version", "Type", "Path"};
      row = DataRow;
      break;
    case ResourceKind::kJob:
      headers = {"Name", "Status", "Endpoint", "Deployment", "Progress", "Created"};
      row = JobRow;
      break;
    case ResourceKind::kOther:
    default:
      return ToAutoTableText(nlohmann::ordered_json(value));
  }
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const json& item) { rows.push_back(row(item)); };
  if (value.is_array()) {
    for (const json& item : value) add(item);
  } else {
    add(value);
  }
  return FormatTable(headers, rows);
}

std::string Render(const json& value, ResourceKind kind, const RenderOptions& options) {
  if (value.is_null()) return "";
  switch (options.format) {
    case OutputFormat::kJsonColor:
      return options.color ? ToColorJsonText(value) : ToJsonText(value);
    case OutputFormat::kYaml:
      return ToYamlText(value);
    case OutputFormat::kYamlColor:
      return options.color ? ToColorYamlText(value) : ToYamlText(value);
    case OutputFormat::kTable:
      return options.query_active ? ToAutoTableText(nlohmann::ordered_json(value))
                                  : ToTableText(value, kind);
    case OutputFormat::kTsv:
      return ToTsvText(nlohmann::ordered_json(value));
    case OutputFormat::kNone:
      return "";
    case OutputFormat::kJson:
    default:
      return ToJsonText(value);
  }
}

std::string RenderQueryResult(const nlohmann::ordered_json& value, const RenderOptions& options) {
  if (value.is_null()) return "";
  switch (options.format) {
    case OutputFormat::kTable:
      return ToAutoTableText(value);
    case OutputFormat::kTsv:
      return ToTsvText(value);
    default:
      return Render(json(value), ResourceKind::kOther, options);
  }
}

void PrintWarnings(const json& answer, std::ostream& err) {
  if (!answer.is_object()) return;
  auto it = answer.find("warnings");
  if (it == answer.end() || !it->is_array()) return;
  for (const json& warning : *it) {
    if (warning.is_string()) err << "Warning: " << warning.get<std::string>() << "\n";
  }
}

}  // namespace berth::cli
