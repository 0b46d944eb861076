#pragma once
// ModelHost: berth-worker's InferenceService. Loads each model version through its backend,
// puts a DynamicBatcher in front of the version's instances, and answers metadata, readiness
// and inference for the REST and gRPC adapters.
//
// Threading: Load() once, from one thread, before or while adapters serve (they see not-ready
// until it finishes); every other method may be called from any thread.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "worker/backend.h"
#include "worker/batching/dynamic_batcher.h"
#include "worker/inference_service.h"

namespace berth::worker {

struct ModelSource {
  std::string name;
  ModelConfig config;
  std::filesystem::path dir;
  std::vector<int64_t> versions;  // newest first; version v loads from dir/<v>
  bool flat = false;              // the files are in `dir` itself (MLflow folders), version 1
};

struct VersionStats {
  std::string model;
  std::string version;
  BatcherStats batcher;
};

class ModelHost final : public InferenceService {
 public:
  // `backends` by name ("pytorch", "xgboost", "fake"); not owned, must outlive the host.
  ModelHost(std::map<std::string, Backend*> backends, const Clock& clock, int intra_op_threads);
  ~ModelHost() override;

  // Loads every version of every model; the first failure is returned naming the model and
  // version, and nothing is served.
  absl::Status Load(std::vector<ModelSource> models);

  bool Live() const override { return true; }
  bool Ready() const override { return ready_.load(); }
  ServerMetadata Metadata() const override;
  absl::StatusOr<ModelMetadata> GetModelMetadata(std::string_view model,
                                                 std::string_view version) const override;
  absl::StatusOr<bool> ModelReady(std::string_view model, std::string_view version) const override;
  absl::StatusOr<const ModelConfig*> GetModelConfig(std::string_view model) const override;
  absl::StatusOr<std::string> DefaultModel() const override;
  void Infer(std::string_view model, std::string_view version, InferRequest request,
             InferCallback done) override;

  std::vector<VersionStats> Stats() const;

 private:
  struct Version {
    int64_t number = 0;
    std::unique_ptr<DynamicBatcher> batcher;
  };
  struct Model {
    std::string name;
    ModelConfig config;
    std::vector<Version> versions;  // newest first
  };
  absl::StatusOr<const Model*> FindModel(std::string_view name) const;
  absl::StatusOr<const Version*> FindVersion(const Model& model, std::string_view version) const;

  std::map<std::string, Backend*> backends_;
  const Clock& clock_;
  int intra_op_threads_;
  // Written once by Load() before ready_ is set; read-only afterwards.
  std::map<std::string, std::unique_ptr<Model>, std::less<>> models_;
  std::atomic<bool> ready_{false};
};

}  // namespace berth::worker
