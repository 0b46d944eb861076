#include "worker/backends/fake/fake_backend.h"

#include <chrono>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace berth::worker {

void FakeBackendLog::Record(FakeExecution execution) {
  std::lock_guard lock(mu_);
  executions_.push_back(std::move(execution));
}

std::vector<FakeExecution> FakeBackendLog::executions() const {
  std::lock_guard lock(mu_);
  return executions_;
}

std::vector<size_t> FakeBackendLog::batch_requests() const {
  std::lock_guard lock(mu_);
  std::vector<size_t> out;
  for (const FakeExecution& e : executions_) out.push_back(e.ids.size());
  return out;
}

std::vector<int64_t> FakeBackendLog::batch_rows() const {
  std::lock_guard lock(mu_);
  std::vector<int64_t> out;
  for (const FakeExecution& e : executions_) out.push_back(e.rows);
  return out;
}

namespace {

struct FakeOptions {
  int64_t sleep_us = 0;
  int64_t fail_every = 0;
  std::optional<std::string> fail_id;
  std::optional<std::string> poison_id;
};

absl::StatusOr<int64_t> NonNegativeParameter(const ModelConfig& config, const std::string& key) {
  auto it = config.parameters.find(key);
  if (it == config.parameters.end()) return 0;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("fake backend: parameter '", key, "' is '",
                                                   it->second, "', want a non-negative integer"));
  }
  return value;
}

absl::StatusOr<FakeOptions> ParseOptions(const ModelConfig& config) {
  FakeOptions options;
  auto behavior = config.parameters.find("behavior");
  if (behavior != config.parameters.end() && behavior->second != "identity") {
    return absl::InvalidArgumentError(absl::StrCat("fake backend: behavior '", behavior->second,
                                                   "' is unknown; want 'identity'"));
  }
  if (config.inputs.size() != config.outputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("fake backend: identity needs as many outputs as inputs; config has ",
                     config.inputs.size(), " inputs and ", config.outputs.size(), " outputs"));
  }
  for (size_t i = 0; i < config.inputs.size(); ++i) {
    if (config.inputs[i].datatype != config.outputs[i].datatype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fake backend: identity needs output '", config.outputs[i].name, "' to be ",
          std::string(DataTypeName(config.inputs[i].datatype)), " like input '",
          config.inputs[i].name, "', not ", std::string(DataTypeName(config.outputs[i].datatype))));
    }
  }
  ASSIGN_OR_RETURN(options.sleep_us, NonNegativeParameter(config, "sleep_us"));
  ASSIGN_OR_RETURN(options.fail_every, NonNegativeParameter(config, "fail_every"));
  if (auto it = config.parameters.find("fail_id"); it != config.parameters.end()) {
    options.fail_id = it->second;
  }
  if (auto it = config.parameters.find("poison_id"); it != config.parameters.end()) {
    options.poison_id = it->second;
  }
  return options;
}

class FakeInstance final : public ModelInstance {
 public:
  FakeInstance(const ModelConfig& config, FakeOptions options, std::shared_ptr<FakeBackendLog> log)
      : config_(config), options_(std::move(options)), log_(std::move(log)) {}

  std::vector<InferResult> Execute(std::span<const InferRequest* const> batch) override {
    FakeExecution record;
    bool poisoned = false;
    for (const InferRequest* request : batch) {
      record.ids.push_back(request->id);
      record.rows += request->batch_rows(config_);
      poisoned = poisoned || (options_.poison_id && request->id == *options_.poison_id);
    }
    log_->Record(std::move(record));
    if (options_.sleep_us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(options_.sleep_us));
    }

    std::vector<InferResult> results;
    results.reserve(batch.size());
    for (const InferRequest* request : batch) {
      const int64_t seen = ++requests_seen_;
      if (poisoned) {
        results.push_back(absl::InternalError(
            absl::StrCat("fake backend: batch holds poison request '", *options_.poison_id, "'")));
      } else if (options_.fail_every > 0 && seen % options_.fail_every == 0) {
        results.push_back(absl::InternalError(absl::StrCat(
            "fake backend: request #", seen, " fails (fail_every=", options_.fail_every, ")")));
      } else if (options_.fail_id && request->id == *options_.fail_id) {
        results.push_back(absl::InternalError(
            absl::StrCat("fake backend: request '", request->id, "' fails (fail_id)")));
      } else {
        results.push_back(Identity(*request));
      }
    }
    return results;
  }

 private:
  InferResult Identity(const InferRequest& request) const {
    if (request.inputs.size() != config_.outputs.size()) {
      return absl::InvalidArgumentError(absl::StrCat("fake backend: request has ",
                                                     request.inputs.size(), " inputs, want ",
                                                     config_.outputs.size()));
    }
    std::vector<Tensor> outputs = request.inputs;
    for (size_t i = 0; i < outputs.size(); ++i) outputs[i].name = config_.outputs[i].name;
    return outputs;
  }

  const ModelConfig& config_;
  const FakeOptions options_;
  const std::shared_ptr<FakeBackendLog> log_;
  int64_t requests_seen_ = 0;  // one thread drives an instance at a time
};

class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeBackendLog> log) : log_(std::move(log)) {}

  std::string_view name() const override { return "fake"; }

  absl::StatusOr<std::unique_ptr<ModelInstance>> Load(const LoadRequest& request) override {
    if (request.config == nullptr) {
      return absl::InvalidArgumentError("fake backend: load request has no config");
    }
    ASSIGN_OR_RETURN(FakeOptions options, ParseOptions(*request.config));
    return std::make_unique<FakeInstance>(*request.config, std::move(options), log_);
  }

 private:
  std::shared_ptr<FakeBackendLog> log_;
};

}  // namespace

std::unique_ptr<Backend> MakeFakeBackend() {
  return MakeFakeBackend(std::make_shared<FakeBackendLog>());
}

std::unique_ptr<Backend> MakeFakeBackend(std::shared_ptr<FakeBackendLog> log) {
  return std::make_unique<FakeBackend>(std::move(log));
}

}  // namespace berth::worker
