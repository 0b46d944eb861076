#include "compute/local/sandbox_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

namespace berth::compute::local {
namespace {

// `path` equals `prefix` or lies below it.
bool Within(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return true;
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

}  // namespace

std::vector<SystemEntry> SystemEntries() {
  std::vector<SystemEntry> entries;
  for (const char* path : {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc",
                           "/opt", "/sys/devices/system"}) {
    struct stat st {};
    if (::lstat(path, &st) != 0) continue;
    SystemEntry entry{path, ""};
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(path, target, sizeof(target) - 1);
      if (n <= 0) continue;
      entry.symlink_target.assign(target, static_cast<size_t>(n));
    } else if (!S_ISDIR(st.st_mode)) {
      continue;
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

std::vector<std::string> SandboxArgv(const LaunchSpec& spec, const SandboxHost& host,
                                     SandboxFds fds) {
  const SandboxSpec& sandbox = *spec.sandbox;
  std::vector<std::string> argv = {host.bwrap};
  auto add = [&argv](std::initializer_list<std::string> args) {
    argv.insert(argv.end(), args.begin(), args.end());
  };
  // Unprivileged bwrap needs a user namespace to create the others; as root it must not have
  // one (it would map the instance to root outside).
  if (!host.privileged) add({"--unshare-user"});
  add({"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
       "--die-with-parent", "--as-pid-1", "--hostname", "instance"});
  if (sandbox.network != SandboxNetwork::kHost) add({"--unshare-net"});
  for (const SystemEntry& entry : host.system) {
    if (entry.symlink_target.empty()) {
      add({"--ro-bind", entry.path, entry.path});
    } else {
      add({"--symlink", entry.symlink_target, entry.path});
    }
  }
  // /dev/shm is world-writable with the sticky bit, as on the host (POSIX semaphores and shared
  // memory: Python's multiprocessing, joblib).
  add({"--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/dev/shm"});
  // The folders leading to each bind are created 0755 (bwrap would make them 0700, which the
  // instance user could not cross), and everything goes parents first, so a bind or folder
  // inside another bind lands in it. Inside a read-only bind a folder must exist already;
  // inside a writable one (the instance's /tmp) bwrap creates it there.
  std::set<std::string> folders = {"/var", "/run"};
  for (const BindMount& bind : sandbox.binds) {
    for (std::filesystem::path parent = std::filesystem::path(bind.target).parent_path();
         parent.has_relative_path(); parent = parent.parent_path()) {
      folders.insert(parent.string());
    }
  }
  struct Step {
    std::string path;
    const BindMount* bind;  // nullptr: a folder
  };
  std::vector<Step> steps;
  for (const std::string& folder : folders) {
    bool in_read_only = std::any_of(sandbox.binds.begin(), sandbox.binds.end(), [&](const auto& b) {
      return !b.writable && Within(folder, b.target);
    });
    bool system = std::any_of(host.system.begin(), host.system.end(),
                              [&](const SystemEntry& e) { return Within(folder, e.path); });
    bool is_bind = std::any_of(sandbox.binds.begin(), sandbox.binds.end(),
                               [&](const auto& b) { return b.target == folder; });
    if (!in_read_only && !system && !is_bind) steps.push_back({folder, nullptr});
  }
  for (const BindMount& bind : sandbox.binds) steps.push_back({bind.target, &bind});
  auto depth = [](const std::string& path) { return std::count(path.begin(), path.end(), '/'); };
  std::stable_sort(steps.begin(), steps.end(),
                   [&](const Step& a, const Step& b) { return depth(a.path) < depth(b.path); });
  for (const Step& step : steps) {
    if (step.bind == nullptr) {
      add({"--perms", "0755", "--dir", step.path});
    } else {
      add({step.bind->writable ? "--bind" : "--ro-bind", step.bind->source.string(), step.path});
    }
  }
  add({"--chdir", spec.working_dir.string()});
  if (fds.info_fd >= 0) add({"--info-fd", std::to_string(fds.info_fd)});
  if (fds.block_fd >= 0) add({"--block-fd", std::to_string(fds.block_fd)});
  add({"--"});
  if (host.privileged && host.user) {
    add({host.setpriv, "--reuid=" + std::to_string(host.user->uid),
         "--regid=" + std::to_string(host.user->gid), "--clear-groups", "--inh-caps=-all",
         "--bounding-set=-all", "--no-new-privs", "--"});
  }
  add({host.tini, "--"});
  argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
  return argv;
}

std::optional<std::filesystem::path> HostPathOf(const std::string& inside, const SandboxSpec& spec,
                                                const SandboxHost& host) {
  const BindMount* best = nullptr;
  for (const BindMount& bind : spec.binds) {
    if (Within(inside, bind.target) &&
        (best == nullptr || bind.target.size() > best->target.size())) {
      best = &bind;
    }
  }
  if (best != nullptr) {
    std::string rest = inside.substr(best->target.size());
    if (!rest.empty() && rest.front() == '/') rest.erase(0, 1);
    return rest.empty() ? best->source : best->source / rest;
  }
  for (const SystemEntry& entry : host.system) {
    if (Within(inside, entry.path)) return std::filesystem::path(inside);
  }
  return std::nullopt;
}

}  // namespace berth::compute::local
