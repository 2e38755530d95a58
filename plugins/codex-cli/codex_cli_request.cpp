// Parses the run request and builds the `codex exec` invocation (see docs/providers.md).
#include "codex_cli_request.h"

namespace aw::codex_cli {
namespace {

std::string requiredString(const Json& request, const char* key) {
    const Json* value = member(request, key);
    if (!value || !value->is_string() || value->get<std::string>().empty()) {
        throw InvalidInput(std::string("request.") + key + " must be a non-empty string");
    }
    return value->get<std::string>();
}

std::string optionalString(const Json& request, const char* key) {
    const Json* value = member(request, key);
    if (!value || value->is_null()) return {};
    if (!value->is_string())
        throw InvalidInput(std::string("request.") + key + " must be a string");
    return value->get<std::string>();
}

void readSettings(const Json& settings, RunRequest& request) {
    if (settings.is_null()) return;
    if (!settings.is_object()) throw InvalidInput("request.settings must be an object");
    request.binary = optionalString(settings, "binary");
    if (const Json* args = member(settings, "args"); args && !args->is_null()) {
        if (!args->is_array())
            throw InvalidInput("request.settings.args must be a list of strings");
        for (const Json& arg : *args) {
            if (!arg.is_string())
                throw InvalidInput("request.settings.args must hold strings only");
            request.extraArgs.push_back(arg.get<std::string>());
        }
    }
    if (const Json* env = member(settings, "env"); env && !env->is_null()) {
        if (!env->is_object()) throw InvalidInput("request.settings.env must be an object");
        for (const auto& [name, value] : env->items()) {
            if (!value.is_string()) {
                throw InvalidInput("request.settings.env." + name + " must be a string");
            }
            request.extraEnv.emplace_back(name, value.get<std::string>());
        }
    }
}

}  // namespace

RunRequest RunRequest::parse(std::string_view text) {
    Json json = parseJson(text);
    if (json.is_discarded() || !json.is_object()) {
        throw InvalidInput("the run request is not a JSON object (of at most " +
                           std::to_string(kMaxNesting) + " levels)");
    }
    RunRequest request;
    request.prompt = requiredString(json, "prompt");
    request.workspace = requiredString(json, "workspace");
    request.model = optionalString(json, "model");
    const std::string approvalMode = optionalString(json, "approval_mode");
    if (approvalMode == "ask") {
        throw Unsupported(
            "codex-cli runs `codex exec`, which never asks a human (its approvals exist only in "
            "`codex app-server`, which this plugin does not drive): use approval_mode \"auto\", "
            "or the claude-code provider for runs that need approvals");
    }
    if (!approvalMode.empty() && approvalMode != "auto") {
        throw InvalidInput("request.approval_mode must be \"auto\" or \"ask\", not \"" +
                           approvalMode + "\"");
    }
    request.providerSessionId = optionalString(json, "provider_session_id");
    if (const Json* previous = member(json, "previous_usage")) request.previousUsage = *previous;
    if (const Json* settings = member(json, "settings")) readSettings(*settings, request);
    return request;
}

Json buildInvocation(const RunRequest& request) {
    Json argv = Json::array();
    argv.push_back(request.binary.empty() ? "codex" : request.binary);
    argv.push_back("exec");
    if (request.resumes()) argv.push_back("resume");
    // `exec resume` has no --sandbox, so both forms bypass Codex's own sandbox: the session
    // worker is the sandbox, and without a human nothing may wait for approval.
    for (const char* arg :
         {"--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
          // The plan tool (todo_list items) is off unless enabled.
          "-c", "tools.update_plan.enabled=true",
          // Without this an unreachable model server is retried forever.
          "--disable", "unbounded_connection_retries"}) {
        argv.push_back(arg);
    }
    if (!request.model.empty()) {
        argv.push_back("-m");
        argv.push_back(request.model);
    }
    for (const std::string& arg : request.extraArgs) argv.push_back(arg);
    // A prompt starting with '-' would otherwise be read as an option.
    if (request.prompt.front() == '-') argv.push_back("--");
    if (request.resumes()) argv.push_back(request.providerSessionId);
    argv.push_back(request.prompt);

    Json env = Json::object();
    for (const auto& [name, value] : request.extraEnv) env[name] = value;
    // An open stdin pipe makes `codex exec` wait for more prompt text forever.
    return {{"argv", argv}, {"env", env}, {"cwd", request.workspace}, {"keep_stdin_open", false}};
}

}  // namespace aw::codex_cli
