#pragma once
// A Triton model repository on disk: `<root>/<model>/config.pbtxt` and numbered version folders
// `<root>/<model>/<version>/`. Scanning is pure filesystem work, so berthd checks a repository
// when a deployment is written (errors before anything starts) and berth-worker loads from the
// same result.

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model_config.h"

namespace berth::worker {

struct RepositoryModel {
  std::string name;
  std::filesystem::path dir;
  ModelConfig config;
  std::vector<int64_t> versions;  // to load, per the version policy, newest first
};

struct Repository {
  std::filesystem::path root;
  std::vector<RepositoryModel> models;  // sorted by name
  std::vector<std::string> warnings;    // "model 'mlp': config.pbtxt:7: field ..."
};

// The repository inside a deployment's model folder: the folder itself when a subfolder holds
// a config.pbtxt, else its only subfolder that does (Azure's samples put the repository one
// level down, e.g. `models/triton/<model>/config.pbtxt`). NOT_FOUND explaining the layout.
absl::StatusOr<std::filesystem::path> FindRepositoryRoot(const std::filesystem::path& model_dir);

// Reads every model of the repository at `root`. Errors (INVALID_ARGUMENT / NOT_FOUND) name
// the model and the file: a bad config.pbtxt, no version folder, a version the policy names
// that is missing.
absl::StatusOr<Repository> ScanRepository(const std::filesystem::path& root);

// Finds and scans the repository in a deployment's model folder as berth-worker will, for the
// checks made when a deployment is written (berthd, `--local`): the warnings for fields
// berth-worker does not honour, or the error naming the model and field.
absl::StatusOr<std::vector<std::string>> CheckRepository(const std::filesystem::path& model_dir);

}  // namespace berth::worker
