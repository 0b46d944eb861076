#include "worker/backends/xgboost/xgboost_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "worker/backends/generated_models_for_test.h"
#include "worker/backends/xgboost/mlflow_xgboost.h"

namespace berth::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ReadFloats;

constexpr int64_t kRows = 40;
constexpr int64_t kFeatures = 5;

// Trains small models and writes what xgboost itself predicts for them.
constexpr char kGenerate[] = R"PY(
import json, os, sys, warnings
import numpy as np
import xgboost as xgb
warnings.simplefilter("ignore")
out = sys.argv[1]
rng = np.random.default_rng(7)
X = rng.normal(size=(40, 5)).astype(np.float32)
X.astype("<f4").tofile(out + "/x.bin")
dx = xgb.DMatrix(X)

def save(booster, model, names):
    for name in names:
        os.makedirs(out + "/" + model + "/1", exist_ok=True)
        booster.save_model(out + "/" + model + "/1/" + name)

def expect(name, values):
    np.asarray(values, dtype=np.float32).astype("<f4").tofile(out + "/" + name + ".bin")

y_reg = X[:, 0] * 2 + X[:, 1] ** 2 + rng.normal(scale=0.1, size=40)
reg = xgb.XGBRegressor(n_estimators=12, max_depth=3).fit(X, y_reg)
save(reg.get_booster(), "reg_json", ["model.json"])
save(reg.get_booster(), "reg_ubj", ["model.ubj"])
save(reg.get_booster(), "reg_bin", ["model.bin"])
expect("reg", reg.get_booster().predict(dx))

y_bin = (X[:, 0] + X[:, 2] > 0).astype(int)
clf = xgb.XGBClassifier(n_estimators=8, max_depth=2).fit(X, y_bin)
save(clf.get_booster(), "binary", ["model.json"])
expect("binary", clf.get_booster().predict(dx))
expect("binary_labels", clf.predict(X))

y_multi = np.digitize(X[:, 1] + X[:, 3], [-0.5, 0.5])
multi = xgb.XGBClassifier(n_estimators=8, max_depth=2).fit(X, y_multi)
save(multi.get_booster(), "multi", ["xgboost.model"])
expect("multi", multi.get_booster().predict(dx))

def mlmodel(folder, data, model_class, inputs):
    os.makedirs(folder, exist_ok=True)
    with open(folder + "/MLmodel", "w") as f:
        f.write("artifact_path: model\n")
        f.write("flavors:\n")
        f.write("  python_function:\n    data: %s\n    env: conda.yaml\n"
                "    loader_module: mlflow.xgboost\n    python_version: 3.11.2\n" % data)
        f.write("  xgboost:\n    code: null\n    data: %s\n    model_class: %s\n"
                "    model_format: xgb\n    xgb_version: %s\n" % (data, model_class, xgb.__version__))
        f.write("mlflow_version: 2.3.0\n")
        f.write("signature:\n  inputs: '%s'\n  outputs: '[{\"type\": \"long\"}]'\n" % json.dumps(inputs))

# The MLflow flavor: mlflow.xgboost.save_model writes the estimator's save_model(model.xgb).
clf.save_model(out + "/mlflow_binary/model.xgb") if os.makedirs(out + "/mlflow_binary", exist_ok=True) is None else None
mlmodel(out + "/mlflow_binary", "model.xgb", "xgboost.sklearn.XGBClassifier",
        [{"name": "f%d" % i, "type": "float"} for i in range(5)])

# A 3-class classifier stopped early: predict() uses only the trees up to best_iteration.
Xv = rng.normal(size=(40, 5)).astype(np.float32)
yv = rng.integers(0, 3, size=40)
stopped = xgb.XGBClassifier(n_estimators=60, max_depth=3, early_stopping_rounds=2)
stopped.fit(X, y_multi, eval_set=[(Xv, yv)], verbose=False)
assert stopped.best_iteration + 1 < 60, stopped.best_iteration
os.makedirs(out + "/mlflow_multi", exist_ok=True)
stopped.save_model(out + "/mlflow_multi/model.xgb")
mlmodel(out + "/mlflow_multi", "model.xgb", "xgboost.sklearn.XGBClassifier",
        [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 5]}}])
expect("mlflow_multi_labels", stopped.predict(X))

reg.save_model(out + "/mlflow_reg/model.xgb") if os.makedirs(out + "/mlflow_reg", exist_ok=True) is None else None
mlmodel(out + "/mlflow_reg", "model.xgb", "xgboost.sklearn.XGBRegressor",
        [{"name": "f%d" % i, "type": "double"} for i in range(5)])
expect("mlflow_reg", reg.predict(X))
)PY";

ModelConfig Config(std::string name, int64_t features = kFeatures) {
  ModelConfig c;
  c.name = std::move(name);
  c.backend = "xgboost";
  c.max_batch_size = 64;
  c.inputs.push_back({"input__0", DataType::kFp32, {features}});
  c.outputs.push_back({"output__0", DataType::kFp32, {1}});
  return c;
}

class XgboostBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    models_ = new testing::GeneratedModels("berth-xgboost-test-", kGenerate);
  }
  static void TearDownTestSuite() { delete models_; }
  void SetUp() override {
    ASSERT_TRUE(models_->ok()) << "training models with " BERTH_PYTHON;
    x_ = ReadFloats(models_->dir() / "x.bin");
    ASSERT_EQ(x_.size(), static_cast<size_t>(kRows * kFeatures));
  }

  absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const ModelConfig& config,
                                                      fs::path version_dir) {
    LoadRequest request;
    request.config = &config;
    request.version_dir = std::move(version_dir);
    request.intra_op_threads = 2;
    return backend_->Load(request);
  }

  // Runs the 40 rows as three requests of 10, 5 and 25 rows, and joins their outputs.
  std::vector<float> PredictInThree(ModelInstance& instance, const std::string& input_name,
                                    int64_t want_columns) {
    const std::vector<int64_t> rows = {10, 5, 25};
    std::vector<InferRequest> requests(rows.size());
    std::vector<const InferRequest*> batch;
    int64_t row = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      Tensor t;
      t.name = input_name;
      t.shape = {rows[i], kFeatures};
      t.data.assign(reinterpret_cast<const char*>(x_.data() + row * kFeatures),
                    rows[i] * kFeatures * sizeof(float));
      requests[i].inputs.push_back(std::move(t));
      batch.push_back(&requests[i]);
      row += rows[i];
    }
    std::vector<InferResult> results = instance.Execute(batch);
    std::vector<float> joined;
    EXPECT_EQ(results.size(), rows.size());
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_TRUE(results[i].ok()) << results[i].status();
      if (!results[i].ok()) return {};
      const Tensor& out = results[i]->front();
      std::vector<int64_t> want_shape = {rows[i]};
      if (want_columns > 0) want_shape.push_back(want_columns);
      EXPECT_EQ(out.shape, want_shape);
      EXPECT_EQ(out.datatype, DataType::kFp32);
      joined.insert(joined.end(), out.as<float>(), out.as<float>() + out.data.size() / 4);
    }
    return joined;
  }

  static double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double diff = a.size() == b.size() ? 0 : INFINITY;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
      diff = std::max<double>(diff, std::abs(a[i] - b[i]));
    }
    return diff;
  }

  static testing::GeneratedModels* models_;
  std::vector<float> x_;
  std::unique_ptr<Backend> backend_ = MakeXgboostBackend();
};

testing::GeneratedModels* XgboostBackendTest::models_ = nullptr;

TEST_F(XgboostBackendTest, RegressorMatchesBoosterPredictInEveryFormat) {
  EXPECT_EQ(backend_->name(), "xgboost");
  std::vector<float> want = ReadFloats(models_->dir() / "reg.bin");
  for (const char* model : {"reg_json", "reg_ubj", "reg_bin"}) {
    SCOPED_TRACE(model);
    ModelConfig config = Config(model);
    auto instance = Load(config, models_->dir() / model / "1");
    ASSERT_TRUE(instance.ok()) << instance.status();
    EXPECT_LE(MaxDiff(PredictInThree(**instance, "input__0", 0), want), 1e-5);
  }
}

TEST_F(XgboostBackendTest, BinaryClassifierGivesProbabilitiesOrLabels) {
  ModelConfig config = Config("binary");
  auto instance = Load(config, models_->dir() / "binary" / "1");
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_LE(
      MaxDiff(PredictInThree(**instance, "input__0", 0), ReadFloats(models_->dir() / "binary.bin")),
      1e-5);

  config.parameters["output_kind"] = "label";
  auto labels = Load(config, models_->dir() / "binary" / "1");
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(PredictInThree(**labels, "input__0", 0),
            ReadFloats(models_->dir() / "binary_labels.bin"));
}

TEST_F(XgboostBackendTest, MultiClassGivesOneProbabilityPerClass) {
  ModelConfig config = Config("multi");
  auto instance = Load(config, models_->dir() / "multi" / "1");  // found as xgboost.model
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_LE(
      MaxDiff(PredictInThree(**instance, "input__0", 3), ReadFloats(models_->dir() / "multi.bin")),
      1e-5);
}

TEST_F(XgboostBackendTest, SingleRequestWithoutBatching) {
  ModelConfig config = Config("reg_json");
  config.max_batch_size = 0;
  config.inputs[0].dims = {-1, kFeatures};
  auto instance = Load(config, models_->dir() / "reg_json" / "1");
  ASSERT_TRUE(instance.ok()) << instance.status();
  InferRequest request;
  Tensor t;
  t.name = "input__0";
  t.shape = {kRows, kFeatures};
  t.data.assign(reinterpret_cast<const char*>(x_.data()), x_.size() * sizeof(float));
  request.inputs.push_back(std::move(t));
  std::vector<const InferRequest*> batch = {&request};
  std::vector<InferResult> results = (*instance)->Execute(batch);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  const Tensor& out = results[0]->front();
  EXPECT_EQ(out.shape, (std::vector<int64_t>{kRows}));
  EXPECT_LE(MaxDiff(std::vector<float>(out.as<float>(), out.as<float>() + kRows),
                    ReadFloats(models_->dir() / "reg.bin")),
            1e-5);
}

TEST_F(XgboostBackendTest, MissingModelFileListsTheNamesTried) {
  fs::create_directories(models_->dir() / "empty" / "1");
  ModelConfig config = Config("empty");
  auto instance = Load(config, models_->dir() / "empty" / "1");
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(instance.status().message(), HasSubstr("model.json"));
  EXPECT_THAT(instance.status().message(), HasSubstr("xgboost.model"));

  config.default_model_filename = "named.json";
  instance = Load(config, models_->dir() / "empty" / "1");
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(instance.status().message(), HasSubstr("named.json"));
}

TEST_F(XgboostBackendTest, CorruptModelFileIsFailedPrecondition) {
  fs::create_directories(models_->dir() / "corrupt" / "1");
  std::ofstream(models_->dir() / "corrupt" / "1" / "model.json") << "{\"not\": \"a model\"";
  ModelConfig config = Config("corrupt");
  auto instance = Load(config, models_->dir() / "corrupt" / "1");
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(instance.status().message(), HasSubstr("model.json"));
}

TEST_F(XgboostBackendTest, FeatureCountMustMatchTheModel) {
  ModelConfig config = Config("reg_json", 7);
  auto instance = Load(config, models_->dir() / "reg_json" / "1");
  EXPECT_EQ(instance.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(instance.status().message(), HasSubstr("takes 5"));
}

TEST_F(XgboostBackendTest, MlflowClassifierPredictsLikeItsPredict) {
  EXPECT_TRUE(IsMlflowXgboost(models_->dir() / "mlflow_binary"));
  EXPECT_FALSE(IsMlflowXgboost(models_->dir() / "reg_json" / "1"));
  auto mlflow = ReadMlflowXgboost(models_->dir() / "mlflow_binary", "churn");
  ASSERT_TRUE(mlflow.ok()) << mlflow.status();
  EXPECT_EQ(mlflow->config.name, "churn");
  EXPECT_EQ(mlflow->config.backend, "xgboost");
  EXPECT_EQ(mlflow->config.max_batch_size, 65536);
  EXPECT_FALSE(mlflow->config.dynamic_batching_enabled);
  EXPECT_EQ(mlflow->config.inputs[0].name, "input");
  EXPECT_EQ(mlflow->config.inputs[0].dims, (std::vector<int64_t>{kFeatures}));
  EXPECT_EQ(mlflow->config.outputs[0].name, "predictions");
  EXPECT_EQ(mlflow->config.parameters.at("output_kind"), "label");
  EXPECT_THAT(mlflow->columns, ::testing::ElementsAre("f0", "f1", "f2", "f3", "f4"));
  EXPECT_EQ(mlflow->model_file, models_->dir() / "mlflow_binary" / "model.xgb");
  EXPECT_EQ(mlflow->model_class, "xgboost.sklearn.XGBClassifier");
  EXPECT_FALSE(mlflow->xgb_version.empty());

  auto instance = Load(mlflow->config, models_->dir() / "mlflow_binary");
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_EQ(PredictInThree(**instance, "input", 0),
            ReadFloats(models_->dir() / "binary_labels.bin"));
}

TEST_F(XgboostBackendTest, MlflowEarlyStoppedMultiClassUsesBestIteration) {
  auto mlflow = ReadMlflowXgboost(models_->dir() / "mlflow_multi", "stopped");
  ASSERT_TRUE(mlflow.ok()) << mlflow.status();
  EXPECT_TRUE(mlflow->columns.empty());
  EXPECT_EQ(mlflow->config.inputs[0].dims, (std::vector<int64_t>{kFeatures}));
  auto instance = Load(mlflow->config, models_->dir() / "mlflow_multi");
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_EQ(PredictInThree(**instance, "input", 0),
            ReadFloats(models_->dir() / "mlflow_multi_labels.bin"));
}

TEST_F(XgboostBackendTest, MlflowRegressorPredictsLikeItsPredict) {
  auto mlflow = ReadMlflowXgboost(models_->dir() / "mlflow_reg", "price");
  ASSERT_TRUE(mlflow.ok()) << mlflow.status();
  EXPECT_EQ(mlflow->config.parameters.count("output_kind"), 0u);
  auto instance = Load(mlflow->config, models_->dir() / "mlflow_reg");
  ASSERT_TRUE(instance.ok()) << instance.status();
  EXPECT_LE(MaxDiff(PredictInThree(**instance, "input", 0),
                    ReadFloats(models_->dir() / "mlflow_reg.bin")),
            1e-5);
}

TEST_F(XgboostBackendTest, MlflowFolderWithoutXgboostFlavor) {
  fs::create_directories(models_->dir() / "mlflow_sklearn");
  std::ofstream(models_->dir() / "mlflow_sklearn" / "MLmodel")
      << "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n";
  EXPECT_FALSE(IsMlflowXgboost(models_->dir() / "mlflow_sklearn"));
  auto mlflow = ReadMlflowXgboost(models_->dir() / "mlflow_sklearn", "m");
  EXPECT_EQ(mlflow.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mlflow.status().message(), HasSubstr("xgboost flavor"));
  EXPECT_EQ(ReadMlflowXgboost(models_->dir() / "nowhere", "m").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace berth::worker
