#include "controlplane/native_models.h"

#include "worker/model_repository.h"

namespace berth::controlplane {

absl::Status CheckTritonRepository(const std::filesystem::path& model_dir,
                                   std::vector<std::string>* warnings) {
  auto root = worker::FindRepositoryRoot(model_dir);
  if (!root.ok()) return root.status();
  auto repo = worker::ScanRepository(*root);
  if (!repo.ok()) return repo.status();
  for (std::string& w : repo->warnings) warnings->push_back(std::move(w));
  return absl::OkStatus();
}

}  // namespace berth::controlplane
