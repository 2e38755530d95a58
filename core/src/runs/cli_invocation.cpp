#include "agent_worker/core/runs/cli_invocation.h"

#include <cstdlib>

namespace aw {

using Json = nlohmann::json;

std::optional<std::string> processEnvironment(const std::string& name) {
    if (const char* value = std::getenv(name.c_str())) return std::string(value);
    return std::nullopt;
}

Json providerEnvironment(const Json& facts, const Json& settings, const EnvironmentLookup& lookup) {
    Json env = Json::object();
    for (const auto& name : facts.value("env_vars", Json::array())) {
        if (!name.is_string()) continue;
        if (auto value = lookup(name.get<std::string>())) env[name.get<std::string>()] = *value;
    }
    const Json configured = settings.is_object() ? settings.value("env", Json::object()) : Json::object();
    for (const auto& [name, value] : configured.items()) {
        if (value.is_string()) env[name] = value;
    }
    return env;
}

Json openRequest(const RunRecord& run, const SessionWorker& worker, const std::string& workspaceRoot,
                 const Json& settings) {
    Json request{{"run_id", run.runId},
                 {"session_id", run.sessionId},
                 {"prompt", run.prompt},
                 {"approval_mode", run.approvalMode},
                 {"workspace", workspaceRoot}};
    if (!run.model.empty()) request["model"] = run.model;
    const Json sessions = Json::parse(worker.providerSessionsJson, nullptr, false);
    if (sessions.is_object() && sessions.contains(run.provider) && sessions[run.provider].is_string()) {
        request["provider_session_id"] = sessions[run.provider];
        // What the session's earlier runs used, for CLIs that report cumulative figures.
        const Json usage = Json::parse(worker.providerUsageJson, nullptr, false);
        if (usage.is_object() && usage.contains(run.provider) && usage[run.provider].is_object()) {
            request["previous_usage"] = usage[run.provider];
        }
    }
    request["settings"] = settings;
    return request;
}

Json runSpec(const std::string& runId, const Json& invocation, const Json& env, const std::string& workspaceRoot) {
    Json merged = env.is_object() ? env : Json::object();
    const Json invocationEnv = invocation.value("env", Json::object());
    for (const auto& [name, value] : invocationEnv.items()) merged[name] = value;
    std::string cwd = invocation.value("cwd", std::string());
    if (cwd.empty() || cwd == ".") {
        cwd = workspaceRoot;
    } else if (cwd.front() != '/') {
        cwd = workspaceRoot + "/" + cwd;
    }
    Json spec{{"run_id", runId},
              {"argv", invocation.value("argv", Json::array())},
              {"env", merged},
              {"cwd", cwd},
              {"keep_stdin_open", invocation.value("keep_stdin_open", false)}};
    if (invocation.contains("stdin")) spec["stdin"] = invocation["stdin"];
    return spec;
}

}  // namespace aw
