// berth-worker: the native model host. berthd starts it as the instances of deployments whose
// model is a Triton model repository (model.type: triton_model) or an MLflow XGBoost model;
// it serves the Open Inference Protocol over REST (--http-port or --http-socket) and gRPC
// (--grpc-port or --grpc-socket).
// docs/worker.md describes it.

#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "http/origin.h"
#include "http/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "worker/backends/fake/fake_backend.h"
#include "worker/grpc/grpc_server.h"
#include "worker/model_repository.h"
#include "worker/server/model_host.h"
#include "worker/server/rest_api.h"
#ifdef BERTH_WITH_TORCH
#include "worker/backends/torch/torch_backend.h"
#endif
#ifdef BERTH_WITH_XGBOOST
#include "worker/backends/xgboost/mlflow_xgboost.h"
#include "worker/backends/xgboost/xgboost_backend.h"
#endif

namespace fs = std::filesystem;
using namespace berth;

namespace {

// Exit code for a model that cannot be loaded: berthd marks the deployment Failed with the log.
constexpr int kLoadFailed = 3;

int Fail(const std::string& message, int code = 2) {
  spdlog::error("{}", message);
  std::cerr << "berth-worker: " << message << std::endl;
  return code;
}

struct Sources {
  std::vector<worker::ModelSource> models;
  std::optional<worker::MlflowInputSpec> mlflow;
};

absl::StatusOr<Sources> ReadRepository(const fs::path& dir) {
  auto root = worker::FindRepositoryRoot(dir);
  if (!root.ok()) return root.status();
  auto repo = worker::ScanRepository(*root);
  if (!repo.ok()) return repo.status();
  for (const std::string& warning : repo->warnings) spdlog::warn("{}", warning);
  Sources sources;
  for (worker::RepositoryModel& m : repo->models) {
    spdlog::info("model '{}' ({}), versions to load: {}", m.name, m.config.platform,
                 m.versions.size());
    sources.models.push_back({m.name, std::move(m.config), m.dir, m.versions, false});
  }
  return sources;
}

absl::StatusOr<Sources> ReadMlflow(const fs::path& dir) {
#ifdef BERTH_WITH_XGBOOST
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();
  auto model = worker::ReadMlflowXgboost(dir, name);
  if (!model.ok()) return model.status();
  Sources sources;
  worker::MlflowInputSpec spec;
  spec.columns = model->columns;
  spec.tensor_name = model->config.inputs.front().name;
  if (!model->config.inputs.front().dims.empty()) {
    spec.num_features = model->config.inputs.front().dims.back();
  }
  sources.mlflow = spec;
  sources.models.push_back({model->config.name, model->config, dir, {1}, true});
  return sources;
#else
  return absl::FailedPreconditionError("this berth-worker was built without XGBoost");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "berth-worker: serves TorchScript and XGBoost models from a Triton model repository (or an "
      "MLflow XGBoost model) over the Open Inference Protocol, REST and gRPC"};
  std::string repository;
  std::string mlflow_model;
  std::string host = "127.0.0.1";
  int http_port = 8000;
  int grpc_port = -1;
  std::string http_socket;
  std::string grpc_socket;
  int intra_op_threads = 1;
  std::string log_level = "info";
  uint64_t max_body = 100ull << 20;
  auto* source = app.add_option_group("model", "what to serve (one of)");
  source->add_option("--model-repository", repository,
                     "A Triton model repository (<model>/config.pbtxt, <model>/<version>/...), "
                     "or a folder holding one");
  source->add_option("--mlflow-model", mlflow_model,
                     "An MLflow model folder with an xgboost flavor");
  source->require_option(1);
  app.add_option("--host", host, "Address to listen on")->capture_default_str();
  auto* http_port_option =
      app.add_option("--http-port", http_port, "REST port; 0 picks a free one and prints it")
          ->capture_default_str()
          ->check(CLI::Range(0, 65535));
  auto* grpc_port_option =
      app.add_option("--grpc-port", grpc_port, "gRPC port; 0 picks a free one, -1 turns gRPC off")
          ->capture_default_str()
          ->check(CLI::Range(-1, 65535));
  app.add_option("--http-socket", http_socket,
                 "Serve REST on this Unix socket (created with mode 0600) instead of "
                 "--host/--http-port")
      ->excludes(http_port_option);
  app.add_option("--grpc-socket", grpc_socket,
                 "Serve gRPC on this Unix socket (unix:PATH, mode 0600) instead of "
                 "--host/--grpc-port")
      ->excludes(grpc_port_option);
  app.add_option("--intra-op-threads", intra_op_threads,
                 "Threads one model execution may use (a config.pbtxt parameter "
                 "INTRA_OP_THREAD_COUNT overrides it per model)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-request-body", max_body, "Largest request body in bytes (else 413)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("berth-worker"));
  spdlog::set_level(spdlog::level::from_str(log_level));

  std::vector<std::unique_ptr<worker::Backend>> owned;
  owned.push_back(worker::MakeFakeBackend());
#ifdef BERTH_WITH_TORCH
  owned.push_back(worker::MakeTorchBackend());
#endif
#ifdef BERTH_WITH_XGBOOST
  owned.push_back(worker::MakeXgboostBackend());
#endif
  std::map<std::string, worker::Backend*> backends;
  for (const auto& b : owned) backends[std::string(b->name())] = b.get();

  auto sources = repository.empty() ? ReadMlflow(mlflow_model) : ReadRepository(repository);
  if (!sources.ok()) return Fail(std::string(sources.status().message()), kLoadFailed);

  worker::ModelHost host_service(backends, SystemClock::Get(), intra_op_threads);
  worker::RestApi rest(host_service, sources->mlflow);

  http::asio::io_context io(1);
  http::ServerOptions server_options;
  server_options.host = host;
  server_options.port = http_port;
  server_options.unix_socket = http_socket;
  server_options.max_body_bytes = max_body;
  http::HttpServer server(io, server_options, [&](http::Request& req, const http::RequestContext&) {
    return rest.Handle(req);
  });
  auto bound = server.Start();
  if (!bound.ok()) return Fail(bound.status().ToString());
  std::unique_ptr<worker::GrpcInferenceServer> grpc;
  int grpc_bound = -1;
  if (!grpc_socket.empty()) {
    if (absl::Status claimed = http::ClaimUnixSocketPath(grpc_socket); !claimed.ok()) {
      return Fail(claimed.ToString());
    }
    grpc = std::make_unique<worker::GrpcInferenceServer>(host_service);
    if (absl::Status started = grpc->StartOnUnixSocket(grpc_socket); !started.ok()) {
      return Fail(started.ToString());
    }
  } else if (grpc_port >= 0) {
    grpc = std::make_unique<worker::GrpcInferenceServer>(host_service);
    auto started = grpc->Start(host, grpc_port);
    if (!started.ok()) return Fail(started.status().ToString());
    grpc_bound = *started;
  }
  if (http_socket.empty()) {
    std::cout << "berth-worker: http port " << *bound;
  } else {
    std::cout << "berth-worker: http socket " << http_socket;
  }
  if (!grpc_socket.empty()) {
    std::cout << ", grpc socket " << grpc_socket;
  } else if (grpc_bound >= 0) {
    std::cout << ", grpc port " << grpc_bound;
  }
  std::cout << std::endl;

  // Models load while the ports already answer (live, not ready), so probes see progress.
  std::atomic<int> exit_code{0};
  std::thread loader([&] {
    absl::Status loaded = host_service.Load(std::move(sources->models));
    if (!loaded.ok()) {
      exit_code = Fail(std::string(loaded.message()), kLoadFailed);
      http::asio::post(io, [&] { io.stop(); });
      return;
    }
    spdlog::info("models loaded; ready");
  });

  http::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int signal) {
    spdlog::info("signal {}: exiting", signal);
    server.Stop();
    io.stop();
  });
  io.run();
  loader.join();
  if (grpc) grpc->Shutdown();
  return exit_code.load();
}
