#pragma once
// Which MLflow flavors a model folder declares, read from its MLmodel file: an xgboost flavor
// means berth-worker serves it natively (docs/yaml.md, "Which process serves a deployment").

#include <filesystem>

namespace berth::core {

// True when `mlflow_dir/MLmodel` declares an xgboost flavor; false when the file is absent or
// unreadable.
bool IsNativeMlflow(const std::filesystem::path& mlflow_dir);

}  // namespace berth::core
