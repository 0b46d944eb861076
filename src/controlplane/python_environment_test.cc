#include "controlplane/python_environment.h"

#include "common/errors.h"
#include "gtest/gtest.h"

namespace berth::controlplane {
namespace {

using nlohmann::json;

TEST(PythonEnvironmentTest, NormalizesNames) {
  EXPECT_EQ(NormalizePackageName("Scikit_Learn"), "scikit-learn");
  EXPECT_EQ(NormalizePackageName("PyYAML"), "pyyaml");
  EXPECT_EQ(NormalizePackageName("pytorch"), "torch");
  EXPECT_EQ(NormalizePackageName("zope.interface"), "zope-interface");
}

TEST(PythonEnvironmentTest, ParsesRequirements) {
  EXPECT_EQ(ParseRequirement("numpy=1.21.2").version, "1.21.2");
  EXPECT_EQ(ParseRequirement("numpy=1.21.2=py38h_0").version, "1.21.2");
  EXPECT_EQ(ParseRequirement("scikit-learn==1.0.2").name, "scikit-learn");
  EXPECT_EQ(ParseRequirement("conda-forge::pandas").name, "pandas");
  Requirement extras = ParseRequirement("inference-schema[numpy-support]==1.3.0");
  EXPECT_EQ(extras.name, "inference-schema");
  EXPECT_EQ(extras.version, "1.3.0");
  EXPECT_EQ(ParseRequirement("joblib>=1.0,<2").version, "");
  EXPECT_EQ(ParseRequirement("pip").name, "pip");
}

InterpreterInfo Info() {
  InterpreterInfo info;
  info.version = "3.11.2";
  info.packages = {{"numpy", "1.24.2"}, {"scikit-learn", "1.2.1"}, {"joblib", "1.2.0"}};
  return info;
}

TEST(PythonEnvironmentTest, AzureSampleDeploysWithWarnings) {
  json conda = json::parse(R"({
    "name": "model-env",
    "channels": ["conda-forge"],
    "dependencies": ["python=3.8.5", "numpy=1.21.2", "pip=21.2.4",
      {"pip": ["azureml-inference-server-http", "inference-schema[numpy-support]==1.3.0",
               "scikit-learn==1.2.1", "joblib"]}]})");
  auto warnings = CheckCondaDependencies(conda, Info(), "/usr/bin/python3");
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  ASSERT_EQ(warnings->size(), 2u);
  EXPECT_NE((*warnings)[0].find("python 3.8.5"), std::string::npos);
  EXPECT_NE((*warnings)[0].find("3.11.2"), std::string::npos);
  EXPECT_NE((*warnings)[1].find("numpy 1.21.2"), std::string::npos);
  EXPECT_NE((*warnings)[1].find("1.24.2"), std::string::npos);
}

TEST(PythonEnvironmentTest, MissingPackageFailsNamingIt) {
  json conda = json::parse(R"({"dependencies": ["numpy", {"pip": ["lightgbm==3.3.0"]}]})");
  auto result = CheckCondaDependencies(conda, Info(), "/usr/bin/python3");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorTarget(result.status()), "environment.conda_file");
  EXPECT_NE(result.status().message().find("lightgbm==3.3.0"), std::string::npos);
  EXPECT_NE(result.status().message().find("Debian 12 packages no lightgbm"), std::string::npos)
      << result.status();
}

TEST(PythonEnvironmentTest, MissingPackagesComeWithDebiansName) {
  json conda = json::parse(R"({"dependencies": [{"pip": ["Pillow==9.4.0", "scikit_learn",
                                                         "some-unknown-dist"]}]})");
  InterpreterInfo info = Info();
  info.packages.erase("scikit-learn");
  auto result = CheckCondaDependencies(conda, info, "/usr/bin/python3");
  ASSERT_FALSE(result.ok());
  const std::string message(result.status().message());
  EXPECT_NE(message.find("Pillow==9.4.0 (apt-get install python3-pil)"), std::string::npos)
      << message;
  EXPECT_NE(message.find("scikit_learn (apt-get install python3-sklearn)"), std::string::npos)
      << message;
  EXPECT_NE(message.find("apt-cache search --names-only python3-some-unknown-dist"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("python3-<name>"), std::string::npos) << message;
}

TEST(PythonEnvironmentTest, DebianPackagesWithoutMetadataCountByModule) {
  json conda = json::parse(R"({"dependencies": [{"pip": ["opencv-python-headless"]}]})");
  InterpreterInfo info = Info();
  EXPECT_FALSE(CheckCondaDependencies(conda, info, "/usr/bin/python3").ok());
  info.modules.insert("cv2");  // python3-opencv: cv2, no opencv-python distribution
  EXPECT_TRUE(CheckCondaDependencies(conda, info, "/usr/bin/python3").ok());
}

TEST(PythonEnvironmentTest, EvaluatesSimpleMarkers) {
  EXPECT_EQ(ParseRequirement("importlib-metadata; python_version < \"3.8\"").marker,
            "python_version < \"3.8\"");
  EXPECT_FALSE(MarkerHolds("python_version < \"3.8\"", "3.11.2"));
  EXPECT_TRUE(MarkerHolds("python_version >= '3.10'", "3.11.2"));
  EXPECT_FALSE(MarkerHolds("python_version == \"3.1\"", "3.11.2"));
  EXPECT_TRUE(MarkerHolds("python_full_version == \"3.11.2\"", "3.11.2"));
  EXPECT_FALSE(MarkerHolds("sys_platform == \"win32\"", "3.11.2"));
  EXPECT_FALSE(
      MarkerHolds("python_version > \"3.6\" and platform_system == \"Windows\"", "3.11.2"));
  EXPECT_TRUE(MarkerHolds("extra == \"gpu\" or python_version < \"3\"", "3.11.2"));
  // A dependency whose marker does not hold is not required.
  json conda =
      json::parse(R"({"dependencies": [{"pip": ["pywin32==306; sys_platform == 'win32'"]}]})");
  EXPECT_TRUE(CheckCondaDependencies(conda, Info(), "/usr/bin/python3").ok());
}

TEST(PythonEnvironmentTest, ShortPinMatchesPatchVersions) {
  json conda = json::parse(R"({"dependencies": ["numpy=1.24", "python=3.11"]})");
  auto warnings = CheckCondaDependencies(conda, Info(), "/usr/bin/python3");
  ASSERT_TRUE(warnings.ok());
  EXPECT_TRUE(warnings->empty());
}

TEST(PythonEnvironmentTest, InspectsARealInterpreter) {
  auto info = InspectInterpreter("/usr/bin/python3");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version.rfind("3.", 0), 0u);
  auto missing = InspectInterpreter("/nonexistent/python");
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace berth::controlplane
