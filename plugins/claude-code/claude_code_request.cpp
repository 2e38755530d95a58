// Parses the run request and builds the Claude Code invocation (see docs/providers.md).
#include "claude_code_request.h"

namespace aw::claude_code {
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
    request.approvalMode = optionalString(json, "approval_mode");
    if (request.approvalMode.empty()) request.approvalMode = "auto";
    if (request.approvalMode != "auto" && request.approvalMode != "ask") {
        throw InvalidInput("request.approval_mode must be \"auto\" or \"ask\", not \"" +
                           request.approvalMode + "\"");
    }
    request.providerSessionId = optionalString(json, "provider_session_id");
    if (const Json* previous = member(json, "previous_usage")) request.previousUsage = *previous;
    if (const Json* settings = member(json, "settings")) readSettings(*settings, request);
    return request;
}

std::string protocolLine(const Json& message) {
    return dumpJson(message) + "\n";
}

Json buildInvocation(const RunRequest& request) {
    Json argv = Json::array();
    argv.push_back(request.binary.empty() ? "claude" : request.binary);
    argv.push_back("-p");
    if (request.protocolMode()) {
        // The prompt and the permission answers travel as JSON lines on stdin.
        for (const char* arg : {"--input-format", "stream-json", "--output-format", "stream-json",
                                "--verbose", "--permission-prompt-tool", "stdio"}) {
            argv.push_back(arg);
        }
    } else {
        // Without a human nothing may wait for approval; the worker is the sandbox.
        for (const char* arg :
             {"--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"}) {
            argv.push_back(arg);
        }
    }
    if (!request.model.empty()) {
        argv.push_back("--model");
        argv.push_back(request.model);
    }
    if (request.resumes()) {
        argv.push_back("--resume");
        argv.push_back(request.providerSessionId);
    }
    for (const std::string& arg : request.extraArgs) argv.push_back(arg);

    Json env = Json::object();
    // Fail within seconds on model API errors instead of ~3 minutes of retries.
    env["CLAUDE_CODE_MAX_RETRIES"] = "2";
    env["DISABLE_AUTOUPDATER"] = "1";
    // The task tools (todo.update) are off by default for the default model.
    env["CLAUDE_CODE_ENABLE_TODO_TOOLS"] = "1";
    // As root, --dangerously-skip-permissions is refused unless the CLI knows it is sandboxed.
    if (!request.protocolMode()) env["IS_SANDBOX"] = "1";
    for (const auto& [name, value] : request.extraEnv) env[name] = value;

    Json invocation{{"env", env}, {"cwd", request.workspace}};
    if (request.protocolMode()) {
        std::string preamble =
            protocolLine({{"type", "control_request"},
                          {"request_id", "aw_init"},
                          {"request", {{"subtype", "initialize"}, {"hooks", nullptr}}}});
        preamble += protocolLine({{"type", "user"},
                                  {"message", {{"role", "user"}, {"content", request.prompt}}},
                                  {"parent_tool_use_id", nullptr},
                                  {"session_id", ""}});
        invocation["keep_stdin_open"] = true;
        invocation["stdin"] = preamble;
    } else {
        // A prompt starting with '-' would otherwise be read as an option.
        if (request.prompt.front() == '-') argv.push_back("--");
        argv.push_back(request.prompt);
        invocation["keep_stdin_open"] = false;
    }
    invocation["argv"] = argv;
    return invocation;
}

}  // namespace aw::claude_code
