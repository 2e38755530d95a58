// /admin/providers: the listing, rescan, restart, and the replay of recorded CLI output
// through a provider (checked line by line exactly as a run's output is).
#include "api/routes.h"
#include "agent_worker/core/random_id.h"
#include "provider/provider_replay.h"

namespace aw {
namespace {

nlohmann::json listing(const ProviderSupervisor& supervisor) {
    nlohmann::json providers = nlohmann::json::array();
    for (const auto& snapshot : supervisor.list()) providers.push_back(snapshot.toJson());
    return providers;
}

ReplayInput replayInputFrom(const nlohmann::json& body, std::chrono::milliseconds timeout) {
    auto bad = [](const std::string& why) {
        return ApiError(400, {"invalid_replay", why,
                              "send {\"lines\": [\"...\"], \"request\"?: {...}, \"exit_code\"?: 0, "
                              "\"signal\"?: 0, \"stop_requested\"?: false}"});
    };
    ReplayInput input;
    input.requestTimeout = timeout;
    if (!body.contains("lines") || !body["lines"].is_array()) throw bad("\"lines\" must be an array");
    for (const auto& line : body["lines"]) {
        if (!line.is_string()) throw bad("every line must be a string");
        input.lines.push_back(line.get<std::string>());
    }
    input.request = body.value("request", nlohmann::json{{"run_id", "admin-replay"},
                                                         {"session_id", "admin-replay"},
                                                         {"prompt", "replay"},
                                                         {"approval_mode", "auto"},
                                                         {"workspace", "."}});
    if (!input.request.is_object()) throw bad("\"request\" must be an object");
    for (const char* key : {"exit_code", "signal"}) {
        if (body.contains(key) && !body[key].is_number_integer()) {
            throw bad(std::string("\"") + key + "\" must be an integer");
        }
    }
    input.exitCode = body.value("exit_code", 0);
    input.signal = body.value("signal", 0);
    input.stopRequested = body.value("stop_requested", false);
    return input;
}

}  // namespace

void addProviderRoutes(Router& router, ProviderSupervisor& supervisor) {
    router.add({"GET", "/admin/providers", Scope::Admin, [&supervisor](const HttpRequest&) {
                    return HttpResponse::json(200, {{"plugins_dir", supervisor.options().pluginsDir},
                                                    {"providers", listing(supervisor)}});
                }});
    router.add({"POST", "/admin/providers/rescan", Scope::Admin, [&supervisor](const HttpRequest&) {
                    const auto report = supervisor.rescan();
                    return HttpResponse::json(200, {{"rescan", report.toJson()},
                                                    {"providers", listing(supervisor)}});
                }});
    router.add({"POST", "/admin/providers/{name}/restart", Scope::Admin,
                [&supervisor](const HttpRequest& request) {
                    const auto& name = request.param("name");
                    if (!supervisor.restart(name)) {
                        throw ApiError(404, {"unknown_provider",
                                             "no provider or plugin file named '" + name + "'",
                                             "GET /admin/providers lists them"});
                    }
                    return HttpResponse::json(202, {{"provider", supervisor.find(name)->toJson()}});
                }});
    router.add({"POST", "/admin/providers/{name}/replay", Scope::Admin,
                [&supervisor](const HttpRequest& request) {
                    const auto input =
                        replayInputFrom(request.json(), supervisor.options().requestTimeout);
                    std::shared_ptr<ProviderProcess> provider;
                    try {
                        provider = supervisor.acquire(request.param("name"));
                    } catch (const ProviderUnavailableError& e) {
                        throw ApiError(e.known() ? 503 : 404, e.problem());
                    }
                    try {
                        const std::string run = newRandomId("replay-");
                        const auto call = [&](const std::string& op, nlohmann::json params) {
                            params["run"] = run;
                            return provider->call(op, std::move(params), input.requestTimeout);
                        };
                        auto named = input;
                        if (named.provider.empty()) named.provider = provider->info().name;
                        const auto result = replayCapture(call, named, nullptr);
                        return HttpResponse::json(200, {{"provider", provider->info().name},
                                                        {"version", provider->info().version},
                                                        {"invocation", result.invocation},
                                                        {"events", result.events},
                                                        {"stdin", result.stdinWrites},
                                                        {"line_errors", result.lineErrorsJson()}});
                    } catch (const ProviderCallError& e) {
                        throw ApiError(502, e.problem());
                    }
                }});
}

}  // namespace aw
