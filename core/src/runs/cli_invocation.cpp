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

namespace {

ProblemError invalidInvocation(const std::string& what) {
    return ProblemError({"invalid_invocation", "the plugin's invocation " + what,
                         "the provider plugin is at fault: report it to its author"});
}

}  // namespace

ExecutorRunSpec runSpec(const std::string& runId, const Json& invocation, const Json& env,
                        const std::string& workspaceRoot) {
    if (!invocation.is_object()) throw invalidInvocation("is not a JSON object");
    ExecutorRunSpec spec;
    spec.runId = runId;
    const Json argv = invocation.value("argv", Json::array());
    if (!argv.is_array()) throw invalidInvocation("argv is not a list");
    for (const auto& arg : argv) {
        if (!arg.is_string()) throw invalidInvocation("argv holds a non-string: " + arg.dump());
        spec.argv.push_back(arg.get<std::string>());
    }
    if (spec.argv.empty()) throw invalidInvocation("has no argv");
    // The provider's environment first, the invocation's own over it.
    auto addEnvironment = [&spec](const Json& vars) {
        if (!vars.is_object()) throw invalidInvocation("env is not an object");
        for (const auto& [name, value] : vars.items()) {
            if (!value.is_string()) throw invalidInvocation("env." + name + " is not a string");
            spec.env[name] = value.get<std::string>();
        }
    };
    addEnvironment(env.is_null() ? Json::object() : env);
    addEnvironment(invocation.value("env", Json::object()));
    const Json cwd = invocation.value("cwd", Json(""));
    if (!cwd.is_string()) throw invalidInvocation("cwd is not a string");
    std::string dir = cwd.get<std::string>();
    if (dir.empty() || dir == ".") {
        dir = workspaceRoot;
    } else if (dir.front() != '/') {
        dir = workspaceRoot + "/" + dir;
    }
    spec.cwd = dir;
    if (invocation.contains("stdin") && !invocation["stdin"].is_null()) {
        if (!invocation["stdin"].is_string()) throw invalidInvocation("stdin is not a string");
        spec.stdinBytes = invocation["stdin"].get<std::string>();
    }
    const Json keepOpen = invocation.value("keep_stdin_open", Json(false));
    if (!keepOpen.is_boolean()) throw invalidInvocation("keep_stdin_open is not a boolean");
    spec.keepStdinOpen = keepOpen.get<bool>();
    return spec;
}

}  // namespace aw
