#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/time_format.h"
#include "api/query_params.h"
#include "api/routes.h"

namespace aw {
namespace {

nlohmann::json timeOrNull(std::int64_t ms) {
    if (ms == 0) return nullptr;
    return isoUtcMillis(ms);
}

nlohmann::json toJson(const SessionWorker& worker) {
    auto providerSessions = nlohmann::json::parse(worker.providerSessionsJson, nullptr, false);
    if (providerSessions.is_discarded()) providerSessions = nlohmann::json::object();
    return {
        {"session_id", worker.sessionId},
        {"tenant_id", worker.tenantId},
        {"status", toString(worker.status)},
        {"desired_status", toString(worker.desiredStatus)},
        {"version", worker.version},
        {"runtime", worker.runtime},
        {"workspace_s3_prefix", worker.workspaceS3Prefix},
        {"last_sync_status", toString(worker.lastSyncStatus)},
        {"last_sync_error", worker.lastSyncError.empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(worker.lastSyncError)},
        {"last_sync_at", timeOrNull(worker.lastSyncAtMs)},
        {"last_active_at", timeOrNull(worker.lastActiveAtMs)},
        {"created_at", timeOrNull(worker.createdAtMs)},
        {"updated_at", timeOrNull(worker.updatedAtMs)},
        {"provider_sessions", providerSessions},
        {"provider_usage", nlohmann::json::parse(worker.providerUsageJson, nullptr, false).is_object()
                               ? nlohmann::json::parse(worker.providerUsageJson)
                               : nlohmann::json::object()},
    };
}

}  // namespace

void addSessionRoutes(Router& router, SessionWorkerStore& workers) {
    router.add({"GET", "/v1/sessions", Scope::Client, [&workers](const HttpRequest& request) {
                    const auto limit =
                        static_cast<std::size_t>(numberParam(request, "limit", 100, 1, 1000));
                    nlohmann::json sessions = nlohmann::json::array();
                    for (const auto& worker : workers.recentlyUpdated(limit))
                        sessions.push_back(toJson(worker));
                    return HttpResponse::json(200, {{"sessions", sessions}});
                }});
    router.add({"GET", "/v1/sessions/{sid}", Scope::Client, [&workers](const HttpRequest& request) {
                    const std::string& sessionId = request.param("sid");
                    if (auto problem = checkIdentifier("session", sessionId)) {
                        throw ApiError(400, *problem);
                    }
                    auto worker = workers.find(sessionId);
                    if (!worker) {
                        throw ApiError(404, {"session_not_found",
                                             "session '" + sessionId + "' has no worker yet",
                                             "a worker is created by the session's first message "
                                             "(POST /v1/sessions/{sid}/messages)"});
                    }
                    return HttpResponse::json(200, toJson(*worker));
                }});
}

}  // namespace aw
