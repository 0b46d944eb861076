#pragma once
// Where the CLI finds berthd and the admin token. Sources, first match wins per value:
//   1. the global flags --url / --token,
//   2. the environment: BERTH_URL / BERTH_TOKEN,
//   3. the config file $XDG_CONFIG_HOME/berth/config (default ~/.config/berth/config) with
//      `key = value` lines (`url`, `token`, `token_file`; '#' starts a comment),
//   4. the token read from BERTH_TOKEN_FILE,
//   5. a berthd installed from the Debian package on this machine (docs/install.md): when
//      /etc/default/berthd exists, the URL from its BERTHD_HOST and BERTHD_PORT, and, for that
//      URL only, the token in /var/lib/berth/admin-token if this user can read it (root: the
//      file stays 0600 and berthd's; nothing here makes it more readable),
//   6. the default URL http://127.0.0.1:8080.

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

// Where a berthd installed from the Debian package says how to reach it. Tests point these
// elsewhere.
struct PackagedDaemon {
  std::filesystem::path defaults_file = "/etc/default/berthd";
  std::filesystem::path token_file = "/var/lib/berth/admin-token";
};

// The packaged berthd's URL from its defaults file (`BERTHD_HOST=...`, `BERTHD_PORT=...` lines
// as a shell reads them; unset values are berthd's defaults, a wildcard host is reached on
// loopback); nullopt when the file is missing or unreadable.
std::optional<std::string> PackagedDaemonUrl(const PackagedDaemon& packaged);

// The config file path from XDG_CONFIG_HOME or HOME; nullopt when neither is set.
std::optional<std::filesystem::path> ConfigFilePath(const EnvLookup& env);

// Resolves the URL and token. A missing token is FAILED_PRECONDITION with a message that says
// how to provide one; a malformed config file is INVALID_ARGUMENT naming the file and line.
absl::StatusOr<ClientConfig> ResolveConfig(const EnvLookup& env, const ConfigOverrides& overrides,
                                           const PackagedDaemon& packaged = {});

}  // namespace berth::cli
