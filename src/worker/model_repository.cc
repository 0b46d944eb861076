#include "worker/model_repository.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth::worker {

namespace fs = std::filesystem;

namespace {

bool HasModels(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && fs::exists(entry.path() / "config.pbtxt", ec)) return true;
  }
  return false;
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError("cannot read " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Version folders present (numeric names), newest first.
std::vector<int64_t> VersionFolders(const fs::path& dir) {
  std::vector<int64_t> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    int64_t v;
    if (entry.is_directory(ec) && absl::SimpleAtoi(entry.path().filename().string(), &v) && v > 0) {
      versions.push_back(v);
    }
  }
  std::sort(versions.rbegin(), versions.rend());
  return versions;
}

}  // namespace

absl::StatusOr<fs::path> FindRepositoryRoot(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    return absl::NotFoundError("a triton_model must be a folder (a Triton model repository); " +
                               model_dir.filename().string() + " is not");
  }
  // Breadth first, two levels down at most: `<path>/<model>/`, `<path>/<repo>/<model>/` or
  // Azure's `<path>/<folder>/<repo>/<model>/`.
  std::vector<fs::path> level = {model_dir};
  for (int depth = 0; depth < 3 && !level.empty(); ++depth) {
    std::vector<fs::path> found;
    std::vector<fs::path> next;
    for (const fs::path& dir : level) {
      if (HasModels(dir)) {
        found.push_back(dir);
        continue;
      }
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_directory(ec)) next.push_back(entry.path());
      }
    }
    if (found.size() == 1) return found.front();
    if (found.size() > 1) {
      return absl::InvalidArgumentError(
          "the model folder holds several Triton repositories; keep one (found " +
          found[0].filename().string() + " and " + found[1].filename().string() + ")");
    }
    level = std::move(next);
  }
  return absl::NotFoundError(
      "the model folder is not a Triton model repository: expected <model>/config.pbtxt with "
      "version folders <model>/1/, ... (directly or in a subfolder)");
}

absl::StatusOr<Repository> ScanRepository(const fs::path& root) {
  Repository repo;
  repo.root = root;
  std::error_code ec;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.is_directory(ec) && fs::exists(entry.path() / "config.pbtxt", ec)) {
      dirs.push_back(entry.path());
    }
  }
  if (ec) return absl::NotFoundError("cannot list " + root.string() + ": " + ec.message());
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& dir : dirs) {
    const std::string name = dir.filename().string();
    auto text = ReadFile(dir / "config.pbtxt");
    if (!text.ok()) return text.status();
    auto parsed = ParseModelConfig(*text, name);
    if (!parsed.ok()) {
      return absl::Status(parsed.status().code(),
                          absl::StrCat("model '", name, "': ", parsed.status().message()));
    }
    for (const std::string& w : parsed->warnings) {
      repo.warnings.push_back(absl::StrCat("model '", name, "': ", w));
    }
    RepositoryModel model;
    model.name = name;
    model.dir = dir;
    model.config = std::move(parsed->config);
    std::vector<int64_t> present = VersionFolders(dir);
    const VersionPolicy& policy = model.config.version_policy;
    switch (policy.kind) {
      case VersionPolicy::Kind::kAll:
        model.versions = present;
        break;
      case VersionPolicy::Kind::kLatest:
        model.versions.assign(
            present.begin(),
            present.begin() + std::min<size_t>(present.size(), policy.latest_count));
        break;
      case VersionPolicy::Kind::kSpecific:
        for (int64_t v : policy.versions) {
          if (std::find(present.begin(), present.end(), v) == present.end()) {
            return absl::NotFoundError(absl::StrCat("model '", name,
                                                    "': version_policy names version ", v,
                                                    " but there is no folder ", name, "/", v));
          }
          model.versions.push_back(v);
        }
        std::sort(model.versions.rbegin(), model.versions.rend());
        break;
    }
    if (model.versions.empty()) {
      return absl::NotFoundError(absl::StrCat("model '", name, "' has no version folder (", name,
                                              "/1/ holding the model file)"));
    }
    repo.models.push_back(std::move(model));
  }
  if (repo.models.empty()) {
    return absl::NotFoundError("no model in repository " + root.filename().string() +
                               " (expected <model>/config.pbtxt)");
  }
  return repo;
}

absl::StatusOr<std::vector<std::string>> CheckRepository(const fs::path& model_dir) {
  auto root = FindRepositoryRoot(model_dir);
  if (!root.ok()) return root.status();
  auto repo = ScanRepository(*root);
  if (!repo.ok()) return repo.status();
  return std::move(repo->warnings);
}

}  // namespace berth::worker
