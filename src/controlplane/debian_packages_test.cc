#include "controlplane/debian_packages.h"

#include "controlplane/python_environment.h"
#include "gtest/gtest.h"

namespace berth::controlplane {
namespace {

TEST(DebianPackagesTest, NamesDebiansPackageWhereItsNameDiffers) {
  EXPECT_EQ(DebianPackageHint("pillow"), "apt-get install python3-pil");
  EXPECT_EQ(DebianPackageHint("scikit-learn"), "apt-get install python3-sklearn");
  EXPECT_EQ(DebianPackageHint(NormalizePackageName("PyYAML")), "apt-get install python3-yaml");
  EXPECT_EQ(DebianPackageHint(NormalizePackageName("pytorch")), "apt-get install python3-torch");
  EXPECT_EQ(DebianPackageHint("opencv-python-headless"), "apt-get install python3-opencv");
  EXPECT_EQ(DebianPackageHint("beautifulsoup4"), "apt-get install python3-bs4");
}

TEST(DebianPackagesTest, SaysWhenDebianHasNone) {
  EXPECT_EQ(DebianPackageHint("lightgbm"), "Debian 12 packages no lightgbm");
  EXPECT_EQ(DebianPackageHint("tensorflow"), "Debian 12 packages no tensorflow");
  EXPECT_NE(DebianPackageHint("mlflow").find("mlflow compatibility subset"), std::string::npos);
}

TEST(DebianPackagesTest, UnknownNamesGetASearchNotAGuess) {
  std::string hint = DebianPackageHint("surely-not-a-package");
  EXPECT_NE(hint.find("apt-cache search --names-only python3-surely-not-a-package"),
            std::string::npos)
      << hint;
  EXPECT_EQ(hint.find("apt-get install"), std::string::npos) << hint;
}

TEST(DebianPackagesTest, EntriesAreNormalisedAndFindable) {
  ASSERT_GE(DebianPackages().size(), 60u);
  for (const DebianPackage& entry : DebianPackages()) {
    EXPECT_EQ(NormalizePackageName(std::string(entry.distribution)), entry.distribution);
    EXPECT_EQ(FindDebianPackage(entry.distribution), &entry);
  }
  EXPECT_EQ(FindDebianPackage("not-in-the-table"), nullptr);
  EXPECT_EQ(FindDebianPackage("opencv-python")->module, "cv2");
}

}  // namespace
}  // namespace berth::controlplane
