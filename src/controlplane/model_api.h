#pragma once
// The REST routes of the model registry, below /api/v1 (docs/api.md, "Models"). ManagementApi
// dispatches to them after checking the admin credential, on its blocking pool.

#include <map>
#include <string>
#include <vector>

#include "controlplane/management_service.h"
#include "http/asio.h"

namespace berth::controlplane {

// `parts`: the decoded path segments after /api/v1, starting with "models"; `query`: the
// decoded query arguments.
http::Response RouteModels(ManagementService& service, const http::Request& req,
                           const std::vector<std::string>& parts,
                           const std::map<std::string, std::string>& query);

}  // namespace berth::controlplane
