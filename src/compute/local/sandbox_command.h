#pragma once
// The bubblewrap command line that runs an instance in its sandbox (compute_driver.h,
// SandboxSpec), and the mapping of sandbox paths back to the host. Pure: everything it needs
// to know about the host is in SandboxHost, read once by LocalProcessDriver.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "compute/compute_driver.h"

namespace berth::compute::local {

// An entry of the host's root that instances see read-only at the same path.
struct SystemEntry {
  std::string path;            // "/usr"
  std::string symlink_target;  // non-empty when `path` is a symlink ("usr/bin" for /bin)
};

struct InstanceUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

struct SandboxHost {
  std::string bwrap = "/usr/bin/bwrap";
  std::string setpriv = "/usr/bin/setpriv";
  std::string tini = "/usr/bin/tini";
  std::vector<SystemEntry> system;  // SystemEntries()
  // berthd runs as root: bwrap creates the namespaces itself and the instance switches to
  // `user` (setpriv) before anything of the deployment runs. Otherwise bwrap runs in a user
  // namespace as berthd's own user and `user` is unused.
  bool privileged = false;
  std::optional<InstanceUser> user;
};

// The host's system folders that exist: /usr, /bin, /sbin, /lib*, /etc, /opt, and of /sys only
// /sys/devices/system (CPU and NUMA topology, which numerical libraries read): the rest of the
// host's sysfs describes the host's network interfaces, not the sandbox's.
std::vector<SystemEntry> SystemEntries();

// Descriptors the driver passes to bwrap: `info_fd` receives {"child-pid": N} (the instance's
// pid 1, as seen from the host); bwrap waits for a byte on `block_fd` (-1: none) before
// starting the instance, so networking can be set up first.
struct SandboxFds {
  int info_fd = -1;
  int block_fd = -1;
};

// argv for execve of host.bwrap. Inside: pid 1 is tini (signals forwarded, zombies reaped),
// started through setpriv when privileged; then spec.argv in spec.working_dir.
std::vector<std::string> SandboxArgv(const LaunchSpec& spec, const SandboxHost& host,
                                     SandboxFds fds);

// Where a path inside the sandbox is on the host: through the longest bind whose target
// contains it, else unchanged when it lies in a system entry; nullopt when the sandbox does not
// show it.
std::optional<std::filesystem::path> HostPathOf(const std::string& inside, const SandboxSpec& spec,
                                                const SandboxHost& host);

}  // namespace berth::compute::local
