#include "common/install_paths.h"

#include <fstream>
#include <string>
#include <system_error>

// Relative to the folder of the installed executables; src/CMakeLists.txt derives both from the
// install rules, so the two cannot drift.
#ifndef BERTH_PYTHON_DIR_FROM_BIN
#error "BERTH_PYTHON_DIR_FROM_BIN must be set by the build"
#endif
#ifndef BERTH_STUDIO_DIR_FROM_BIN
#error "BERTH_STUDIO_DIR_FROM_BIN must be set by the build"
#endif

namespace berth {
namespace {

namespace fs = std::filesystem;

// The name of the file in the build tree that holds the source tree's path.
constexpr char kSourceDirFile[] = "berth-source-dir";

bool IsDirectory(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// The source tree recorded in <build>/berth-source-dir, or empty.
fs::path RecordedSourceDir(const fs::path& build_dir) {
  std::ifstream in(build_dir / kSourceDirFile);
  std::string line;
  if (!in || !std::getline(in, line)) return {};
  return fs::path(line);
}

}  // namespace

InstallPaths ResolveInstallPaths(const fs::path& exe) {
  const fs::path bin = exe.parent_path();
  const fs::path build_dir = bin.parent_path();
  InstallPaths paths;
  paths.berthd = bin / "berthd";
  paths.worker = bin / "berth-worker";

  paths.python_dir = (bin / BERTH_PYTHON_DIR_FROM_BIN).lexically_normal();
  if (!IsDirectory(paths.python_dir)) {
    fs::path source_dir = RecordedSourceDir(build_dir);
    if (!source_dir.empty() && IsDirectory(source_dir / "python")) {
      paths.python_dir = source_dir / "python";
    }
  }

  paths.studio_dir = (bin / BERTH_STUDIO_DIR_FROM_BIN).lexically_normal();
  if (!IsDirectory(paths.studio_dir) && IsDirectory(build_dir / "studio")) {
    paths.studio_dir = build_dir / "studio";
  }
  return paths;
}

fs::path SelfExecutable() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

}  // namespace berth
