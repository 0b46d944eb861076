#pragma once
// Where the CLI finds berthd and the admin token. Sources, first match wins per value:
//   1. the global flags --url / --token,
//   2. the environment: BERTH_URL / BERTH_TOKEN,
//   3. the config file $XDG_CONFIG_HOME/berth/config (default ~/.config/berth/config) with
//      `key = value` lines (`url`, `token`, `token_file`; '#' starts a comment),
//   4. the default URL http://127.0.0.1:8080 and the token read from BERTH_TOKEN_FILE.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace berth::cli {

inline constexpr char kDefaultUrl[] = "http://127.0.0.1:8080";

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
std::optional<std::string> ProcessEnv(const std::string& name);

struct ClientConfig {
  std::string url;
  std::string token;
};

// Values given on the command line; empty optionals mean "not given".
struct ConfigOverrides {
  std::optional<std::string> url;
  std::optional<std::string> token;
};

// The config file path from XDG_CONFIG_HOME or HOME; nullopt when neither is set.
std::optional<std::filesystem::path> ConfigFilePath(const EnvLookup& env);

// Resolves the URL and token. A missing token is FAILED_PRECONDITION with a message that says
// how to provide one; a malformed config file is INVALID_ARGUMENT naming the file and line.
absl::StatusOr<ClientConfig> ResolveConfig(const EnvLookup& env, const ConfigOverrides& overrides);

}  // namespace berth::cli
