#include "core/mlflow_flavor.h"

#include "yaml-cpp/yaml.h"

namespace berth::core {

bool IsNativeMlflow(const std::filesystem::path& mlflow_dir) {
  try {
    YAML::Node mlmodel = YAML::LoadFile((mlflow_dir / "MLmodel").string());
    return mlmodel["flavors"] && mlmodel["flavors"]["xgboost"];
  } catch (const YAML::Exception&) {
    return false;
  }
}

}  // namespace berth::core
