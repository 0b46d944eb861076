#include "worker/server/model_host.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/codec/request_checks.h"

namespace berth::worker {

ModelHost::ModelHost(std::map<std::string, Backend*> backends, const Clock& clock,
                     int intra_op_threads)
    : backends_(std::move(backends)), clock_(clock), intra_op_threads_(intra_op_threads) {}

ModelHost::~ModelHost() = default;

absl::Status ModelHost::Load(std::vector<ModelSource> sources) {
  for (ModelSource& source : sources) {
    auto backend = backends_.find(source.config.backend);
    if (backend == backends_.end()) {
      std::vector<std::string> names;
      for (const auto& [name, _] : backends_) names.push_back(name);
      return absl::FailedPreconditionError(absl::StrCat(
          "model '", source.name, "' needs backend '", source.config.backend,
          "', which this berth-worker was built without (it has: ", absl::StrJoin(names, ", "),
          ")"));
    }
    auto model = std::make_unique<Model>();
    model->name = source.name;
    model->config = std::move(source.config);
    for (int64_t v : source.versions) {
      std::vector<std::unique_ptr<ModelInstance>> instances;
      for (int i = 0; i < std::max(1, model->config.instance_count); ++i) {
        LoadRequest request;
        request.config = &model->config;
        request.version_dir = source.flat ? source.dir : source.dir / std::to_string(v);
        request.version = v;
        request.intra_op_threads = intra_op_threads_;
        auto instance = backend->second->Load(request);
        if (!instance.ok()) {
          return absl::Status(instance.status().code(),
                              absl::StrCat("model '", model->name, "' version ", v, ": ",
                                           instance.status().message()));
        }
        instances.push_back(*std::move(instance));
      }
      model->versions.push_back(
          {v, std::make_unique<DynamicBatcher>(model->config, std::move(instances), clock_)});
    }
    models_[model->name] = std::move(model);
  }
  ready_.store(true);
  return absl::OkStatus();
}

ServerMetadata ModelHost::Metadata() const {
  return {"berth-worker", "0.1.0", {"binary_tensor_data", "statistics"}};
}

absl::StatusOr<const ModelHost::Model*> ModelHost::FindModel(std::string_view name) const {
  if (!ready_.load()) return absl::UnavailableError("models are still loading");
  auto it = models_.find(name);
  if (it == models_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, _] : models_) names.push_back(n);
    return absl::NotFoundError(absl::StrCat("unknown model '", std::string(name),
                                            "'; this server has: ", absl::StrJoin(names, ", ")));
  }
  return it->second.get();
}

absl::StatusOr<const ModelHost::Version*> ModelHost::FindVersion(const Model& model,
                                                                 std::string_view version) const {
  if (version.empty()) return &model.versions.front();
  int64_t number;
  if (absl::SimpleAtoi(std::string(version), &number)) {
    for (const Version& v : model.versions) {
      if (v.number == number) return &v;
    }
  }
  std::vector<std::string> loaded;
  for (const Version& v : model.versions) loaded.push_back(std::to_string(v.number));
  return absl::NotFoundError(absl::StrCat("unknown version '", std::string(version), "' of model '",
                                          model.name,
                                          "'; loaded versions: ", absl::StrJoin(loaded, ", ")));
}

absl::StatusOr<ModelMetadata> ModelHost::GetModelMetadata(std::string_view name,
                                                          std::string_view version) const {
  auto model = FindModel(name);
  if (!model.ok()) return model.status();
  auto found = FindVersion(**model, version);
  if (!found.ok()) return found.status();
  const ModelConfig& config = (*model)->config;
  ModelMetadata meta;
  meta.name = (*model)->name;
  for (const Version& v : (*model)->versions) meta.versions.push_back(std::to_string(v.number));
  meta.platform = config.platform;
  for (const TensorConfig& t : config.inputs) {
    meta.inputs.push_back({t.name, t.datatype, FullShape(config, t)});
  }
  for (const TensorConfig& t : config.outputs) {
    meta.outputs.push_back({t.name, t.datatype, FullShape(config, t)});
  }
  return meta;
}

absl::StatusOr<bool> ModelHost::ModelReady(std::string_view name, std::string_view version) const {
  auto model = FindModel(name);
  if (!model.ok()) return model.status();
  auto found = FindVersion(**model, version);
  if (!found.ok()) return found.status();
  return true;
}

absl::StatusOr<const ModelConfig*> ModelHost::GetModelConfig(std::string_view name) const {
  auto model = FindModel(name);
  if (!model.ok()) return model.status();
  return &(*model)->config;
}

absl::StatusOr<std::string> ModelHost::DefaultModel() const {
  if (!ready_.load()) return absl::UnavailableError("models are still loading");
  if (models_.size() == 1) return models_.begin()->first;
  std::vector<std::string> names;
  for (const auto& [n, _] : models_) names.push_back(n);
  return absl::NotFoundError(absl::StrCat("this deployment serves several models (",
                                          absl::StrJoin(names, ", "),
                                          "); use /v2/models/<name>/infer"));
}

void ModelHost::Infer(std::string_view name, std::string_view version, InferRequest request,
                      InferCallback done) {
  auto model = FindModel(name);
  if (!model.ok()) return done(model.status());
  auto found = FindVersion(**model, version);
  if (!found.ok()) return done(found.status());
  const Model& m = **model;
  if (absl::Status checked = CheckInferRequest(request, m.config); !checked.ok()) {
    return done(checked);
  }
  InferResponse shell;
  shell.model_name = m.name;
  shell.model_version = std::to_string((*found)->number);
  shell.id = request.id;
  std::vector<std::string> wanted = request.requested_outputs;
  (*found)->batcher->Enqueue(std::move(request),
                             [shell = std::move(shell), wanted = std::move(wanted),
                              done = std::move(done)](InferResult result) mutable {
                               if (!result.ok()) return done(result.status());
                               InferResponse response = std::move(shell);
                               if (wanted.empty()) {
                                 response.outputs = *std::move(result);
                               } else {
                                 for (const std::string& name : wanted) {
                                   for (Tensor& t : *result) {
                                     if (t.name == name) response.outputs.push_back(std::move(t));
                                   }
                                 }
                               }
                               done(std::move(response));
                             });
}

std::vector<VersionStats> ModelHost::Stats() const {
  std::vector<VersionStats> out;
  if (!ready_.load()) return out;
  for (const auto& [name, model] : models_) {
    for (const Version& v : model->versions) {
      out.push_back({name, std::to_string(v.number), v.batcher->stats()});
    }
  }
  return out;
}

}  // namespace berth::worker
