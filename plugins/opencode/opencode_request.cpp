// Parses the run request and builds the `opencode run` invocation (see docs/providers.md).
#include "opencode_request.h"

namespace aw::opencode {
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
            "opencode runs `opencode run`, which auto-rejects every permission prompt (prompts "
            "exist only in `opencode serve`, which this plugin does not drive): use "
            "approval_mode \"auto\", or the claude-code provider for runs that need approvals");
    }
    if (!approvalMode.empty() && approvalMode != "auto") {
        throw InvalidInput("request.approval_mode must be \"auto\" or \"ask\", not \"" +
                           approvalMode + "\"");
    }
    request.providerSessionId = optionalString(json, "provider_session_id");
    // previous_usage is not needed: opencode reports each model call on its own.
    if (const Json* settings = member(json, "settings")) readSettings(*settings, request);
    return request;
}

Json buildInvocation(const RunRequest& request) {
    Json argv = Json::array();
    argv.push_back(request.binary.empty() ? "opencode" : request.binary);
    // --thinking adds the model's reasoning parts to the stream; --auto approves the prompts
    // `run` would otherwise auto-reject (approval_mode "auto": the worker is the sandbox).
    for (const char* arg : {"run", "--format", "json", "--thinking", "--auto"}) {
        argv.push_back(arg);
    }
    if (!request.model.empty()) {
        argv.push_back("-m");
        argv.push_back(request.model);
    }
    if (request.resumes()) {
        argv.push_back("--session");
        argv.push_back(request.providerSessionId);
    }
    for (const std::string& arg : request.extraArgs) argv.push_back(arg);
    // A prompt starting with '-' would otherwise be read as an option.
    if (request.prompt.front() == '-') argv.push_back("--");
    argv.push_back(request.prompt);

    Json env = Json::object();
    env["OPENCODE_DISABLE_AUTOUPDATE"] = "1";
    for (const auto& [name, value] : request.extraEnv) env[name] = value;
    // opencode takes its project directory from $PWD, not from the process cwd; set last so
    // no setting can point it elsewhere.
    env["PWD"] = request.workspace;
    // An open stdin pipe makes `opencode run` wait for input and never start.
    return {{"argv", argv}, {"env", env}, {"cwd", request.workspace}, {"keep_stdin_open", false}};
}

}  // namespace aw::opencode
