#pragma once
// ManagementApi: the REST adapter for /api/v1 and /metrics. It checks the admin credential,
// parses paths and bodies, calls ManagementService / ArtifactStore on a blocking thread pool
// (SQLite and file work never stall the data plane), and maps errors in one place
// (http/errors.h).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "auth/session_store.h"
#include "controlplane/artifact_store.h"
#include "controlplane/management_service.h"
#include "gateway/metrics.h"
#include "gateway/metrics_history.h"
#include "http/asio.h"

namespace berth::controlplane {

// More routes served like the management API's own: after the admin credential check, on the
// blocking pool, with errors mapped by http/errors.h. The batch component adds its routes
// (batch/batch_api.h) this way, so the control plane does not depend on it.
class ApiRoutes {
 public:
  virtual ~ApiRoutes() = default;
  // Whether these routes serve `parts`: the decoded path segments after /api/v1, or, for a
  // public path (`public_path`: below PublicPrefixes), all of its segments.
  virtual bool Owns(const std::vector<std::string>& parts, bool public_path) const = 0;
  virtual http::Response Route(const http::Request& req, const std::vector<std::string>& parts,
                               const std::map<std::string, std::string>& query,
                               bool public_path) = 0;
};

class ManagementApi {
 public:
  // `admin_token_sha256`: hex SHA-256 of the admin token.
  ManagementApi(ManagementService& service, ArtifactStore& artifacts, gateway::Metrics& metrics,
                std::string admin_token_sha256, http::asio::thread_pool& blocking_pool);

  // /api/v1, /metrics and the public paths of added routes (PublicPrefixes).
  static bool Matches(std::string_view target);
  // Public paths answered here with the admin credential: Azure's batch invocation URL
  // (`/batch-endpoints/{e}/jobs`).
  static const std::vector<std::string>& PublicPrefixes();
  // Routes tried, in the order added, before "no API route". Set before serving; not owned.
  void AddRoutes(ApiRoutes* routes) { extra_routes_.push_back(routes); }
  // Answers .../deployments/{d}/metrics from `history` (not owned; 503 until set). Set before
  // serving.
  void SetMetricsHistory(const gateway::MetricsHistory* history) { metrics_history_ = history; }
  // Studio sessions (studio/studio_handler.h): a request without an Authorization header but
  // with a live session cookie is authenticated like the admin token; then a method other than
  // GET/HEAD must repeat the session's CSRF token in X-CSRF-Token (else 403). Set before
  // serving; not owned; null (the default) accepts the admin token only.
  void SetSessions(auth::SessionStore* sessions) { sessions_ = sessions; }
  http::Awaitable<http::Response> Handle(http::Request& req);

 private:
  http::Response HandleBlocking(const http::Request& req);
  http::Response Route(const http::Request& req, const std::vector<std::string>& parts,
                       const std::map<std::string, std::string>& query);
  // POST /api/v1/artifacts: stores a tar under the digest berthd computes.
  http::Response PostArtifact(const http::Request& req);

  ManagementService& service_;
  ArtifactStore& artifacts_;
  gateway::Metrics& metrics_;
  std::string admin_token_sha256_;
  http::asio::thread_pool& blocking_pool_;
  std::vector<ApiRoutes*> extra_routes_;
  const gateway::MetricsHistory* metrics_history_ = nullptr;
  auth::SessionStore* sessions_ = nullptr;
};

// The answer to a list GET: reads `$top`/`$skiptoken` from `query` (400 naming a bad one),
// asks `list` for that page and answers `{"value": [...], "nextLink": ...}`
// (controlplane/paging.h).
http::Response ReplyListPage(const http::Request& req,
                             const std::map<std::string, std::string>& query,
                             const std::function<absl::StatusOr<Page>(const PageRequest&)>& list);

// The OpenAPI 3 document of the management API.
const std::string& ManagementOpenApiJson();

}  // namespace berth::controlplane
