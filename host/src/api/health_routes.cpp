#include "api/routes.h"

namespace aw {

namespace {

//! Provider counts by status. Readiness does not depend on them: a degraded provider
//! makes only its own runs fail, not the host.
nlohmann::json providerSummary(const ProviderSupervisor& providers) {
    nlohmann::json byStatus = nlohmann::json::object();
    for (const auto& snapshot : providers.list()) {
        const auto status = toString(snapshot.status);
        byStatus[status] = byStatus.value(status, 0) + 1;
    }
    return byStatus;
}

}  // namespace

void addHealthRoutes(Router& router, StoreHealth& store, const ProviderSupervisor& providers,
                     std::vector<ReadinessCheck> checks) {
    // Probes answer under any load: /health on the I/O thread, /ready ahead of the queue.
    router.add({"GET", "/health", Scope::Public,
                [](const HttpRequest&) { return HttpResponse::json(200, {{"status", "ok"}}); },
                RouteLane::OnIoThread});
    router.add({"GET", "/ready", Scope::Public,
                [&store, &providers, checks = std::move(checks)](const HttpRequest&) {
                    if (auto reason = store.unhealthyReason()) {
                        return HttpResponse::json(
                            503, {{"status", "unavailable"},
                                  {"checks",
                                   {{"database", {{"ok", false}, {"reason", *reason}}},
                                    {"providers", providerSummary(providers)}}},
                                  {"error",
                                   {{"code", "database_unavailable"},
                                    {"message", *reason},
                                    {"hint", "check that the database server is running; "
                                             "agent-host reconnects by itself"}}}});
                    }
                    nlohmann::json results{{"database", {{"ok", true}}},
                                           {"providers", providerSummary(providers)}};
                    std::optional<Problem> firstProblem;
                    for (const auto& check : checks) {
                        nlohmann::json result = check.details;
                        const auto problem = check.problem();
                        result["ok"] = !problem;
                        if (problem) {
                            result["reason"] = problem->message;
                            result["code"] = problem->code;
                            if (!firstProblem) firstProblem = problem;
                        }
                        results[check.name] = result;
                    }
                    if (firstProblem) {
                        return HttpResponse::json(503, {{"status", "unavailable"},
                                                        {"checks", results},
                                                        {"error",
                                                         {{"code", firstProblem->code},
                                                          {"message", firstProblem->message},
                                                          {"hint", firstProblem->hint}}}});
                    }
                    return HttpResponse::json(200, {{"status", "ready"}, {"checks", results}});
                },
                RouteLane::QueuedFirst});
}

}  // namespace aw
