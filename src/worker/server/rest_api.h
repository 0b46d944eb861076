#pragma once
// berth-worker's HTTP face: the Open Inference Protocol's REST routes over a ModelHost, plus
// `/score` (the infer body for the only model, or the MLflow scoring formats for an MLflow
// model) and `/` (200 once the models are loaded: berthd's default probe path).
//
// Routes: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/<m>[/versions/<v>],
// /v2/models/<m>[/versions/<v>]/ready, /v2/models[/<m>[/versions/<v>]]/stats;
// POST /v2/models/<m>[/versions/<v>]/infer, /score. Errors are OIP's {"error": "..."}
// (http/errors.h), except /score for MLflow models, which answers like berth's Python MLflow
// mode ({"message": "..."}).
//
// Threading: Handle() runs on the server's io_context; inference completes on batcher threads
// and resumes the handler on its executor.

#include <optional>

#include "http/asio.h"
#include "worker/codec/mlflow_input.h"
#include "worker/server/model_host.h"

namespace berth::worker {

class RestApi {
 public:
  // `mlflow`: set when the worker serves an MLflow model, whose /score takes MLflow's formats.
  RestApi(ModelHost& host, std::optional<MlflowInputSpec> mlflow);

  http::Awaitable<http::Response> Handle(http::Request& req);

 private:
  http::Awaitable<http::Response> Infer(http::Request& req, std::string model, std::string version);
  http::Awaitable<http::Response> ScoreMlflow(http::Request& req);
  http::Response StatsResponse(const http::Request& req, std::string_view model,
                               std::string_view version) const;

  ModelHost& host_;
  std::optional<MlflowInputSpec> mlflow_;
};

// Runs one inference and resumes the calling coroutine on its executor when it completes.
http::Awaitable<absl::StatusOr<InferResponse>> InferAsync(InferenceService& service,
                                                          std::string model, std::string version,
                                                          InferRequest request);

}  // namespace berth::worker
