#pragma once
// ManagementApi: the REST adapter for /api/v1 and /metrics. It checks the admin credential,
// parses paths and bodies, calls ManagementService / ArtifactStore on a blocking thread pool
// (SQLite and file work never stall the data plane), and maps errors in one place
// (http/errors.h).

#include <functional>
#include <map>
#include <string>

#include "controlplane/artifact_store.h"
#include "controlplane/management_service.h"
#include "gateway/metrics.h"
#include "http/asio.h"

namespace berth::controlplane {

class ManagementApi {
 public:
  // `admin_token_sha256`: hex SHA-256 of the admin token.
  ManagementApi(ManagementService& service, ArtifactStore& artifacts, gateway::Metrics& metrics,
                std::string admin_token_sha256, http::asio::thread_pool& blocking_pool);

  static bool Matches(std::string_view target);
  http::Awaitable<http::Response> Handle(http::Request& req);

 private:
  http::Response HandleBlocking(const http::Request& req);
  http::Response Route(const http::Request& req, const std::vector<std::string>& parts,
                       const std::map<std::string, std::string>& query);

  ManagementService& service_;
  ArtifactStore& artifacts_;
  gateway::Metrics& metrics_;
  std::string admin_token_sha256_;
  http::asio::thread_pool& blocking_pool_;
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
