// Names, closest-match suggestions, and the endpoint document <-> EndpointSpec conversion.

#include "core/spec_json.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/status_macros.h"
#include "core/json_fields.h"

namespace berth::core {
namespace {

using internal::AsciiLower;
using internal::ObjectView;
using nlohmann::json;

constexpr size_t kMinNameLength = 3;
constexpr size_t kMaxNameLength = 32;
constexpr int kMaxMirrorPercent = 50;
constexpr size_t kMaxShownNameLength = 64;

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

std::string WithArticle(std::string_view kind) {
  const bool vowel = !kind.empty() && std::string_view("aeiou").find(kind[0]) != kind.npos;
  return absl::StrCat(vowel ? "an " : "a ", absl::string_view(kind.data(), kind.size()));
}

// Reads `traffic` or `mirror_traffic`: valid deployment names, kept as written (the control plane
// matches them to deployments ignoring case), to percentages in 0..100, zeros dropped.
absl::Status ReadTrafficMap(const ObjectView& view, const std::string& key,
                            std::map<std::string, int>* out) {
  if (!view.Has(key)) return absl::OkStatus();
  const json& value = view.Get(key);
  const std::string path = view.PathOf(key);
  if (!value.is_object()) {
    return internal::TypeError(path, "an object of deployment names to percentages", value);
  }
  std::map<std::string, int> result;
  std::set<std::string> seen;
  for (const auto& [name, item] : value.items()) {
    const std::string item_path = internal::JoinPath(path, name);
    RETURN_IF_ERROR(ValidateName("deployment", name, item_path));
    ASSIGN_OR_RETURN(int percent, internal::IntFromJson(item, item_path, 0, 100));
    if (!seen.insert(AsciiLower(name)).second) {
      return InvalidField(item_path, absl::StrCat("deployment '", name,
                                                  "' is listed twice (names are not "
                                                  "case-sensitive)"));
    }
    if (percent > 0) result[name] = percent;
  }
  *out = std::move(result);
  return absl::OkStatus();
}

absl::Status CheckTraffic(const EndpointSpec& spec) {
  int sum = 0;
  for (const auto& [name, percent] : spec.traffic) sum += percent;
  if (sum != 0 && sum != 100) {
    return InvalidField("traffic", absl::StrCat("the traffic percentages must sum to 0 or 100, "
                                                "got ",
                                                sum));
  }
  if (spec.mirror_traffic.size() > 1) {
    return InvalidField("mirror_traffic",
                        absl::StrCat("only one deployment can receive mirrored traffic, got ",
                                     spec.mirror_traffic.size()));
  }
  for (const auto& [name, percent] : spec.mirror_traffic) {
    const std::string path = absl::StrCat("mirror_traffic.", name);
    if (percent > kMaxMirrorPercent) {
      return InvalidField(path, absl::StrCat("at most ", kMaxMirrorPercent,
                                             " percent of traffic can be mirrored, got ", percent));
    }
    const bool live = std::any_of(spec.traffic.begin(), spec.traffic.end(),
                                  [&](const auto& entry) { return SameName(entry.first, name); });
    if (live) {
      return InvalidField(path, absl::StrCat("deployment '", name,
                                             "' already receives live traffic; a deployment "
                                             "gets live or mirrored traffic, never both"));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadAuthMode(const ObjectView& view, AuthMode* out) {
  if (!view.Has("auth_mode")) return absl::OkStatus();
  const json& value = view.Get("auth_mode");
  if (!value.is_string()) return internal::TypeError("auth_mode", "'key' or 'aml_token'", value);
  const std::string mode = AsciiLower(value.get_ref<const std::string&>());
  if (mode == "key") {
    *out = AuthMode::kKey;
  } else if (mode == "aml_token" || mode == "amltoken") {
    *out = AuthMode::kAmlToken;
  } else if (mode == "aad_token" || mode == "aadtoken") {
    // Accepting it while not checking Entra tokens would leave the endpoint open.
    return InvalidField("auth_mode",
                        "berth does not support Microsoft Entra (aad_token) auth yet; use "
                        "'key' or 'aml_token'");
  } else {
    return internal::TypeError("auth_mode", "'key' or 'aml_token'", value);
  }
  return absl::OkStatus();
}

// Levenshtein distance in which swapping two adjacent letters counts as one edit (optimal string
// alignment), so the common typo "paht" is closer to "path" than to "port".
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

absl::Status ValidateName(std::string_view kind, std::string_view name, std::string_view field) {
  const std::string subject = absl::StrCat("The name for ", WithArticle(kind));
  std::string shown(name.substr(0, kMaxShownNameLength));
  if (shown.size() < name.size()) shown += "...";
  const std::string got = absl::StrCat(" Got '", shown, "'.");
  if (name.size() < kMinNameLength || name.size() > kMaxNameLength) {
    return InvalidField(
        field, absl::StrCat(subject, " must be at least ", kMinNameLength, " and at most ",
                            kMaxNameLength, " characters long (inclusive of both limits).", got));
  }
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return IsAsciiLetter(c) || IsAsciiDigit(c) || c == '-';
  });
  if (!IsAsciiLetter(name.front()) || !valid_chars) {
    return InvalidField(field, absl::StrCat(subject,
                                            " must start with an upper- or lowercase letter and "
                                            "only consist of '-'s and alphanumeric characters.",
                                            got));
  }
  if (name.back() == '-') {
    return InvalidField(field, absl::StrCat(subject, " must end with a letter or a digit.", got));
  }
  if (name.find("--") != std::string_view::npos) {
    return InvalidField(field, absl::StrCat(subject, " must not contain consecutive '-'s.", got));
  }
  return absl::OkStatus();
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  const std::string lower_word = AsciiLower(word);
  const size_t threshold = std::max<size_t>(2, word.size() / 3);
  std::string best;
  size_t best_distance = threshold + 1;
  for (const std::string& candidate : candidates) {
    // The distance is at least the difference in length; skipping early also keeps a huge
    // unknown key from costing a huge distance table.
    const size_t longer = std::max(word.size(), candidate.size());
    const size_t shorter = std::min(word.size(), candidate.size());
    if (longer - shorter > threshold) continue;
    size_t distance = EditDistance(lower_word, AsciiLower(candidate));
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

absl::StatusOr<Parsed<EndpointSpec>> ParseEndpointSpec(const json& doc) {
  if (!doc.is_object()) return internal::TypeError("", "an endpoint document (an object)", doc);
  ASSIGN_OR_RETURN(ObjectView view,
                   ObjectView::Open(doc, "",
                                    {"$schema", "name", "description", "tags", "auth_mode",
                                     "traffic", "mirror_traffic", "identity",
                                     "public_network_access", "compute", "kind", "location"},
                                    {"provisioning_state", "scoring_uri", "openapi_uri", "id",
                                     "reason", "created_at", "updated_at", "warnings", "live"}));
  Parsed<EndpointSpec> out;
  EndpointSpec& spec = out.spec;
  std::vector<std::string>& warnings = out.warnings;

  if (!view.Has("name")) return InvalidField("name", "an endpoint needs a name");
  RETURN_IF_ERROR(view.ReadString("name", &spec.name));
  RETURN_IF_ERROR(ValidateName("endpoint", spec.name, "name"));
  RETURN_IF_ERROR(view.ReadString("description", &spec.description));
  RETURN_IF_ERROR(view.ReadStringMap("tags", &spec.tags));
  RETURN_IF_ERROR(ReadAuthMode(view, &spec.auth_mode));
  RETURN_IF_ERROR(ReadTrafficMap(view, "traffic", &spec.traffic));
  RETURN_IF_ERROR(ReadTrafficMap(view, "mirror_traffic", &spec.mirror_traffic));
  RETURN_IF_ERROR(CheckTraffic(spec));

  if (view.Has("identity")) {
    warnings.push_back(
        "identity: berth has no managed identities; instances run as the berthd user");
  }
  std::string network_access;
  RETURN_IF_ERROR(
      view.ReadChoice("public_network_access", {"enabled", "disabled"}, &network_access));
  spec.public_network_access = network_access != "disabled";
  if (view.Has("compute")) {
    warnings.push_back(
        "compute: ignored; berth runs deployments as local processes, not on Kubernetes");
  }
  if (view.Has("kind")) warnings.push_back("kind: ignored; berth has one kind of online endpoint");
  if (view.Has("location")) {
    warnings.push_back("location: ignored; endpoints run where berthd runs");
  }
  return out;
}

json ToJson(const EndpointSpec& spec) {
  return json{{"name", spec.name},
              {"description", spec.description},
              {"tags", json(spec.tags)},
              {"auth_mode", AuthModeName(spec.auth_mode)},
              {"traffic", json(spec.traffic)},
              {"mirror_traffic", json(spec.mirror_traffic)},
              {"public_network_access", spec.public_network_access ? "enabled" : "disabled"}};
}

}  // namespace berth::core
