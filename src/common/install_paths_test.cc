#include "common/install_paths.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace berth {
namespace {

namespace fs = std::filesystem;

// A fresh folder under $TMPDIR for one test's fake layout, removed afterwards.
class InstallPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "berth-install-paths-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  static void Touch(const fs::path& file) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << "";
  }

  fs::path root_;
};

TEST_F(InstallPathsTest, InstalledLayoutIsFoundBesideTheExecutable) {
  const fs::path prefix = root_ / "usr";
  const fs::path python = (prefix / "bin" / BERTH_PYTHON_DIR_FROM_BIN).lexically_normal();
  const fs::path studio = (prefix / "bin" / BERTH_STUDIO_DIR_FROM_BIN).lexically_normal();
  Touch(prefix / "bin" / "berthd");
  fs::create_directories(python);
  fs::create_directories(studio);

  InstallPaths paths = ResolveInstallPaths(prefix / "bin" / "berthd");
  EXPECT_EQ(paths.berthd, prefix / "bin" / "berthd");
  EXPECT_EQ(paths.worker, prefix / "bin" / "berth-worker");
  EXPECT_EQ(paths.python_dir, python);
  EXPECT_EQ(paths.studio_dir, studio);
  // The conventional places, under the prefix.
  EXPECT_EQ(python, prefix / "lib" / "berth" / "python");
  EXPECT_EQ(studio, prefix / "share" / "berth" / "studio");
}

TEST_F(InstallPathsTest, BuildTreeFallsBackToTheRecordedSourceTreeAndBuildStudio) {
  const fs::path source = root_ / "source";
  const fs::path build = root_ / "build";
  fs::create_directories(source / "python");
  fs::create_directories(build / "studio");
  Touch(build / "src" / "berth");
  std::ofstream(build / "berth-source-dir") << source.string() << "\n";

  InstallPaths paths = ResolveInstallPaths(build / "src" / "berth");
  EXPECT_EQ(paths.berthd, build / "src" / "berthd");
  EXPECT_EQ(paths.worker, build / "src" / "berth-worker");
  EXPECT_EQ(paths.python_dir, source / "python");
  EXPECT_EQ(paths.studio_dir, build / "studio");
}

TEST_F(InstallPathsTest, InstalledLayoutWinsOverARecordedSourceTree) {
  // A prefix that also holds a stale berth-source-dir (an install into the build folder).
  const fs::path source = root_ / "source";
  fs::create_directories(source / "python");
  const fs::path prefix = root_ / "prefix";
  fs::create_directories((prefix / "bin" / BERTH_PYTHON_DIR_FROM_BIN).lexically_normal());
  std::ofstream(prefix / "berth-source-dir") << source.string() << "\n";

  InstallPaths paths = ResolveInstallPaths(prefix / "bin" / "berthd");
  EXPECT_EQ(paths.python_dir, prefix / "lib" / "berth" / "python");
}

TEST_F(InstallPathsTest, NothingFoundNamesTheInstalledPlaces) {
  // No installed folders, no build-tree record, and a record whose source tree is gone.
  InstallPaths paths = ResolveInstallPaths(root_ / "bin" / "berthd");
  EXPECT_EQ(paths.python_dir, root_ / "lib" / "berth" / "python");
  EXPECT_EQ(paths.studio_dir, root_ / "share" / "berth" / "studio");

  std::ofstream(root_ / "berth-source-dir") << (root_ / "moved-away").string() << "\n";
  paths = ResolveInstallPaths(root_ / "bin" / "berthd");
  EXPECT_EQ(paths.python_dir, root_ / "lib" / "berth" / "python");
}

TEST(SelfExecutableTest, IsThisTestBinary) {
  fs::path exe = SelfExecutable();
  ASSERT_FALSE(exe.empty());
  EXPECT_EQ(exe.filename(), "berth_common_tests");
}

}  // namespace
}  // namespace berth
