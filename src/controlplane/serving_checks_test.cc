#include "controlplane/serving_checks.h"

#include <fstream>

#include "common/errors.h"
#include "gtest/gtest.h"
#include "state/test_temp_dir.h"

namespace berth::controlplane {
namespace {

namespace fs = std::filesystem;

const std::string kModelDigest = "sha256:" + std::string(64, 'a');

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// What MLflow 2.9 writes beside MLmodel for a LightGBM model.
constexpr char kMlflowConda[] = R"(channels:
- conda-forge
dependencies:
- python=3.8.18
- pip<=23.3.1
- pip:
  - mlflow==2.9.2
  - cloudpickle==2.2.1
  - lightgbm==4.1.0
  - numpy==1.24.4
name: mlflow-env
)";
constexpr char kPythonEnv[] = R"(python: 3.8.18
build_dependencies:
- pip==23.3.1
- setuptools==68.2.2
- wheel==0.41.3
dependencies:
- -r requirements.txt
)";
constexpr char kRequirements[] = R"(mlflow==2.9.2
cloudpickle==2.2.1
lightgbm==4.1.0
numpy==1.24.4
onnxruntime==1.16.0  # only in requirements.txt
)";

class ServingChecksTest : public ::testing::Test {
 protected:
  fs::path Model() const { return artifacts_.PathOf(kModelDigest); }

  core::DeploymentSpec Spec() const {
    core::DeploymentSpec spec;
    spec.name = "blue";
    core::ModelSpec model;
    model.name = "m";
    model.artifact = core::ArtifactRef{kModelDigest, "model", false};
    spec.model = model;
    return spec;
  }

  InterpreterInfo Info() const {
    InterpreterInfo info;
    info.version = "3.11.2";
    info.packages = {{"numpy", "1.24.2"}, {"cloudpickle", "2.2.0"}};
    return info;
  }

  state::TestTempDir dir_;
  ArtifactStore artifacts_{dir_.path()};
};

TEST_F(ServingChecksTest, ParsesRequirementsFiles) {
  std::vector<std::string> includes;
  auto lines = ParseRequirementsFile(
      "# comment\n\nmlflow==2.9.2\n -r other.txt\n--requirement=more.txt\n--index-url x\n"
      "scikit-learn[alldeps]==1.3.0  # pinned\ngit+https://example.invalid/x.git\n"
      "pkg @ https://example.invalid/pkg.whl\nimportlib-metadata; python_version < \"3.8\"\n",
      &includes);
  EXPECT_EQ(lines, (std::vector<std::string>{"mlflow==2.9.2", "scikit-learn[alldeps]==1.3.0",
                                             "pkg @ https://example.invalid/pkg.whl",
                                             "importlib-metadata; python_version < \"3.8\""}));
  EXPECT_EQ(includes, (std::vector<std::string>{"other.txt", "more.txt"}));
}

TEST_F(ServingChecksTest, ReadsTheMlflowModelsEnvironmentFiles) {
  WriteFile(Model() / "MLmodel", "flavors: {}\n");
  WriteFile(Model() / "conda.yaml", kMlflowConda);
  WriteFile(Model() / "python_env.yaml", kPythonEnv);
  WriteFile(Model() / "requirements.txt", kRequirements);
  auto declared = MlflowModelRequirements(Model());
  ASSERT_TRUE(declared.ok()) << declared.status();
  ASSERT_EQ(declared->size(), 3u);
  EXPECT_EQ((*declared)[0].source, "conda.yaml of the MLflow model");
  EXPECT_EQ((*declared)[1].source, "python_env.yaml of the MLflow model");
  EXPECT_EQ((*declared)[1].lines, std::vector<std::string>{"python==3.8.18"});
  EXPECT_EQ((*declared)[2].source, "requirements.txt of the MLflow model");  // read once
  EXPECT_EQ((*declared)[2].lines.size(), 5u);
}

TEST_F(ServingChecksTest, MissingModelDependenciesFailNamingTheFile) {
  WriteFile(Model() / "MLmodel", "flavors: {}\n");
  WriteFile(Model() / "conda.yaml", kMlflowConda);
  WriteFile(Model() / "requirements.txt", kRequirements);
  auto result = CheckPythonDependencies(artifacts_, Spec(), Info(), "/usr/bin/python3");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorTarget(result.status()), "model");
  const std::string message(result.status().message());
  EXPECT_NE(message.find("conda.yaml of the MLflow model needs lightgbm==4.1.0 (Debian 12 "
                         "packages no lightgbm)"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("requirements.txt of the MLflow model needs onnxruntime==1.16.0"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("mlflow=="), std::string::npos) << message;  // berth provides it
  EXPECT_EQ(message.find("lightgbm==4.1.0", message.find("requirements.txt")), std::string::npos)
      << "reported twice: " << message;
  // With them installed the other pins are warnings.
  InterpreterInfo info = Info();
  info.packages["lightgbm"] = "4.1.0";
  info.packages["onnxruntime"] = "1.16.0";
  auto warnings = CheckPythonDependencies(artifacts_, Spec(), info, "/usr/bin/python3");
  ASSERT_TRUE(warnings.ok()) << warnings.status();
  ASSERT_EQ(warnings->size(), 3u);  // python, cloudpickle, numpy
  EXPECT_NE((*warnings)[0].find("conda.yaml of the MLflow model: pins python 3.8.18"),
            std::string::npos)
      << (*warnings)[0];
}

TEST_F(ServingChecksTest, ModelFilesAreCheckedOnlyForMlflowModels) {
  WriteFile(Model() / "requirements.txt", "lightgbm\n");  // no MLmodel: not read
  EXPECT_FALSE(MlflowModelFolder(artifacts_, Spec()).has_value());
  EXPECT_TRUE(CheckPythonDependencies(artifacts_, Spec(), Info(), "/usr/bin/python3").ok());
}

TEST_F(ServingChecksTest, RequirementFilesStayInsideTheModel) {
  WriteFile(Model() / "MLmodel", "flavors: {}\n");
  WriteFile(Model() / "python_env.yaml", "dependencies:\n- -r ../../etc/passwd\n");
  auto declared = MlflowModelRequirements(Model());
  ASSERT_FALSE(declared.ok());
  EXPECT_EQ(ErrorTarget(declared.status()), "model");
}

TEST_F(ServingChecksTest, AnImageIsNoServingDefinition) {
  WriteFile(Model() / "model.pkl", "x");
  core::DeploymentSpec spec = Spec();
  auto plain = CheckMlflowServable(artifacts_, spec, false);
  EXPECT_EQ(ErrorTarget(plain), "code_configuration") << plain;
  spec.environment.image = "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference";
  auto image = CheckMlflowServable(artifacts_, spec, false);
  EXPECT_EQ(image.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorTarget(image), "environment.image") << image;
  EXPECT_NE(image.message().find("does not run container images"), std::string::npos) << image;
  EXPECT_NE(image.message().find("environment.command"), std::string::npos) << image;
  auto batch = CheckMlflowServable(artifacts_, spec, true);
  EXPECT_EQ(ErrorTarget(batch), "environment.image") << batch;
  EXPECT_EQ(batch.message().find("environment.command"), std::string::npos) << batch;
  // An MLflow model is served whatever the image says.
  WriteFile(Model() / "MLmodel", "flavors: {}\n");
  EXPECT_TRUE(CheckMlflowServable(artifacts_, spec, false).ok());
}

}  // namespace
}  // namespace berth::controlplane
