#pragma once
// DataPlane: the REST adapter over the Router. It serves /endpoints/<endpoint>/score,
// /swagger.json and the Open Inference Protocol's /endpoints/<endpoint>/v2/... routes: it parses
// the route, hands the request to Router::Route with the HTTP client of the thread it runs on,
// and maps the outcome to HTTP in one place — Azure's rules on /score (a model's non-2xx
// becomes 424; 401/404/408/429/502/503 from the gateway) and OIP's on /v2 (model statuses
// pass through; the gateway's own errors are {"error": "..."}).
//
// Public network access: berthd may serve the data plane on two listeners, its public one and
// a private one (--private-listen), both HttpServers sharing this DataPlane. A request's
// http::RequestContext says which one it came through (ServerOptions::private_listener); an
// endpoint with public_network_access false answers requests from the public one with 403
// (after the credential check, like every other refusal that names an endpoint).
//
// Threading: one HttpInstanceClient per data-plane thread, registered with AddThread() before
// serving. Handle() and CheckHeaders() run on data-plane threads.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "gateway/http_instance_client.h"
#include "gateway/router.h"
#include "gateway/runner_pool.h"
#include "http/asio.h"
#include "http/server.h"

namespace berth::gateway {

struct DataPlaneOptions {
  HttpClientOptions client;
  // Makes the x-request-id of answers given from the headers alone (CheckHeaders); other
  // requests carry the server's id when they reach Handle().
  std::function<std::string()> new_request_id;
};

class DataPlane {
 public:
  DataPlane(Router& router, const Clock& clock, DataPlaneOptions options = {});
  ~DataPlane();

  // A data-plane thread's io_context: requests handled on it use its own instance client.
  void AddThread(http::asio::io_context& io);

  // True when the target is a data-plane path (/endpoints/...).
  static bool Matches(std::string_view target);

  // The check made from the headers alone, before any body byte is read: a response (401, 403,
  // 404, 405) when the request cannot succeed, nullopt to go on. `context` is the server's
  // (which listener, which client); the default is a public listener.
  // A refusal carries a new x-request-id (DataPlaneOptions::new_request_id), the one it is
  // logged with.
  std::optional<http::Response> CheckHeaders(const http::Request& head,
                                             const http::RequestContext& context = {}) const;

  // `req` must carry the x-request-id the server assigned. `req` and `context` (as for
  // CheckHeaders; the server's own, which lives as long as the request) must outlive the
  // returned awaitable. The context's client address is passed on to runner instances.
  http::Awaitable<http::Response> Handle(http::Request& req, const http::RequestContext& context);
  // The same as from a public listener with no client address.
  http::Awaitable<http::Response> Handle(http::Request& req);

 private:
  struct Thread {
    http::asio::io_context* io;
    std::unique_ptr<HttpInstanceClient> client;
  };
  HttpInstanceClient& ClientFor(const http::asio::any_io_executor& executor);

  Router& router_;
  const Clock& clock_;
  DataPlaneOptions options_;
  // Runner workers' requests in flight, shared by the threads' clients.
  std::shared_ptr<runner::RunnerLoad> runner_load_ = std::make_shared<runner::RunnerLoad>();
  std::vector<Thread> threads_;  // fixed once serving starts
};

}  // namespace berth::gateway
