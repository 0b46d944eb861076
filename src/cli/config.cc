#include "cli/config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/user_file.h"

namespace berth::cli {
namespace {

namespace fs = std::filesystem;

// An admin token is a line of text.
constexpr uint64_t kMaxTokenFileBytes = 64 * 1024;

struct FileConfig {
  std::optional<std::string> url;
  std::optional<std::string> token;
  std::optional<std::string> token_file;
};

std::optional<std::string> NonEmpty(const EnvLookup& env, const std::string& name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

std::string Unquote(std::string value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

absl::StatusOr<std::string> ReadTokenFile(const fs::path& path, const std::string& source) {
  absl::StatusOr<std::string> text = ReadUserFile(path, kMaxTokenFileBytes);
  if (!text.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read the admin token file (from ",
                                                      source, "): ", text.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the admin token file ", path.string(), " is empty"));
  }
  return token;
}

// A missing file is an empty config; a file that exists but cannot be read is an error.
absl::StatusOr<FileConfig> ReadConfigFile(const fs::path& path) {
  FileConfig config;
  std::error_code ec;
  if (!fs::exists(path, ec)) return config;
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path.string()));
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text.front() == '#') continue;
    size_t eq = text.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ":", line_number,
                                                     ": expected `key = value`, got \"",
                                                     std::string(text), "\""));
    }
    std::string key(absl::StripAsciiWhitespace(text.substr(0, eq)));
    std::string value = Unquote(std::string(absl::StripAsciiWhitespace(text.substr(eq + 1))));
    if (key == "url") {
      config.url = value;
    } else if (key == "token") {
      config.token = value;
    } else if (key == "token_file") {
      config.token_file = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ":", line_number,
                                                     ": unknown key \"", key,
                                                     "\" (known keys: url, token, token_file)"));
    }
  }
  return config;
}

// `reason` says why the packaged berthd's token was not used, when it was tried.
std::string MissingTokenMessage(const std::optional<fs::path>& config_path,
                                const std::string& reason) {
  return absl::StrCat(
      reason,
      "no admin token configured. berthd writes it to <data-dir>/admin-token on first start "
      "(default ~/.local/share/berth/admin-token). Provide it with one of: --token <token>; "
      "BERTH_TOKEN=<token>; BERTH_TOKEN_FILE=<data-dir>/admin-token; or a line "
      "`token_file = <data-dir>/admin-token` in ",
      config_path ? config_path->string() : std::string("~/.config/berth/config"));
}

// One `KEY=value` line of a file a shell sources: optional `export`, quotes, `#` comments.
std::optional<std::pair<std::string, std::string>> ShellAssignment(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty() || line.front() == '#') return std::nullopt;
  if (absl::StartsWith(line, "export ")) line = absl::StripLeadingAsciiWhitespace(line.substr(7));
  size_t eq = line.find('=');
  if (eq == absl::string_view::npos || eq == 0) return std::nullopt;
  std::string value(line.substr(eq + 1));
  if (!value.empty() && value.front() != '"' && value.front() != '\'') {
    value = std::string(absl::StripAsciiWhitespace(value.substr(0, value.find('#'))));
  }
  return std::make_pair(std::string(line.substr(0, eq)), Unquote(value));
}

}  // namespace

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> PackagedDaemonUrl(const PackagedDaemon& packaged) {
  std::ifstream in(packaged.defaults_file);
  if (!in) return std::nullopt;
  std::string host = "127.0.0.1";
  std::string port = "8080";
  for (std::string line; std::getline(in, line);) {
    auto assignment = ShellAssignment(line);
    if (!assignment || assignment->second.empty()) continue;
    if (assignment->first == "BERTHD_HOST") host = assignment->second;
    if (assignment->first == "BERTHD_PORT") port = assignment->second;
  }
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return absl::StrCat("http://", host, ":", port);
}

std::optional<fs::path> ConfigFilePath(const EnvLookup& env) {
  // The XDG spec says to ignore relative values of XDG_CONFIG_HOME.
  if (auto xdg = NonEmpty(env, "XDG_CONFIG_HOME"); xdg && fs::path(*xdg).is_absolute()) {
    return fs::path(*xdg) / "berth" / "config";
  }
  if (auto home = NonEmpty(env, "HOME")) return fs::path(*home) / ".config" / "berth" / "config";
  return std::nullopt;
}

absl::StatusOr<ClientConfig> ResolveConfig(const EnvLookup& env, const ConfigOverrides& overrides,
                                           const PackagedDaemon& packaged) {
  std::optional<fs::path> config_path = ConfigFilePath(env);
  FileConfig file;
  if (config_path) {
    absl::StatusOr<FileConfig> read = ReadConfigFile(*config_path);
    if (!read.ok()) return read.status();
    file = *std::move(read);
  }

  ClientConfig config;
  if (overrides.url) {
    config.url = *overrides.url;
  } else if (auto url = NonEmpty(env, "BERTH_URL")) {
    config.url = *url;
  } else if (file.url) {
    config.url = *file.url;
  } else if (auto url = PackagedDaemonUrl(packaged)) {
    config.url = *url;
  } else {
    config.url = kDefaultUrl;
  }
  while (config.url.size() > 1 && config.url.back() == '/') config.url.pop_back();

  if (overrides.token) {
    config.token = *overrides.token;
  } else if (auto token = NonEmpty(env, "BERTH_TOKEN")) {
    config.token = *token;
  } else if (file.token) {
    config.token = *file.token;
  } else if (file.token_file) {
    absl::StatusOr<std::string> token =
        ReadTokenFile(*file.token_file, "token_file in " + config_path->string());
    if (!token.ok()) return token.status();
    config.token = *std::move(token);
  } else if (auto token_file = NonEmpty(env, "BERTH_TOKEN_FILE")) {
    absl::StatusOr<std::string> token = ReadTokenFile(*token_file, "BERTH_TOKEN_FILE");
    if (!token.ok()) return token.status();
    config.token = *std::move(token);
  }
  std::string packaged_reason;
  if (absl::StripAsciiWhitespace(config.token).empty() &&
      config.url == PackagedDaemonUrl(packaged)) {
    // Only the packaged berthd's own URL gets its token: it is never sent anywhere else.
    absl::StatusOr<std::string> token = ReadTokenFile(packaged.token_file, "the packaged berthd");
    if (token.ok()) {
      config.token = *std::move(token);
    } else {
      packaged_reason = absl::StrCat("the berthd installed on this machine (", config.url,
                                     ") keeps its admin token in ", packaged.token_file.string(),
                                     ", readable by root only (", token.status().message(),
                                     "); run berth as root, or: ");
    }
  }
  config.token = std::string(absl::StripAsciiWhitespace(config.token));
  if (config.token.empty()) {
    return absl::FailedPreconditionError(MissingTokenMessage(config_path, packaged_reason));
  }
  return config;
}

}  // namespace berth::cli
