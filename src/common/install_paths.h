#pragma once
// Where berth's executables find the files they need (the Python runner, the studio, each
// other), so that an installed tree can be moved (`make install DESTDIR=...`, a Debian package)
// and the build tree runs unchanged. Nothing here names the source or build tree at compile time.

#include <filesystem>

namespace berth {

// The files one berth executable uses by default; each one can still be overridden by a flag or
// an environment variable where the executable offers one.
struct InstallPaths {
  std::filesystem::path berthd;      // the daemon, beside the running executable
  std::filesystem::path worker;      // berth-worker, beside the running executable
  std::filesystem::path python_dir;  // berth_runner and the Azure ML shims
  std::filesystem::path studio_dir;  // the studio's built files
};

// Resolves InstallPaths from `exe`, the running executable (SelfExecutable()); `bin` is its
// folder. Each folder is taken from the installed layout when it exists there:
//   <bin>/../lib/berth/python, <bin>/../share/berth/studio   (set by CMake, GNUInstallDirs)
// else from the build tree, where the executables are in <build>/src:
//   <source>/python, with <source> read from the file <build>/berth-source-dir that CMake writes
//   at configure time (the install copies nothing of it), and <build>/studio.
// When neither exists the installed path is returned, so an error names where the file belongs.
// Reads the filesystem only; never fails.
InstallPaths ResolveInstallPaths(const std::filesystem::path& exe);

// The running executable (/proc/self/exe); empty when it cannot be read.
std::filesystem::path SelfExecutable();

}  // namespace berth
