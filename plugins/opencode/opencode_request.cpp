// Builds the `opencode run` invocation (see docs/providers.md).
#include "opencode_request.h"

namespace aw::opencode {

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
    const bool fits = request.promptFitsArgument();
    if (fits) {
        // A prompt starting with '-' would otherwise be read as an option.
        if (request.prompt.front() == '-') argv.push_back("--");
        argv.push_back(request.prompt);
    }

    Json env = Json::object();
    env["OPENCODE_DISABLE_AUTOUPDATE"] = "1";
    for (const auto& [name, value] : request.extraEnv) env[name] = value;
    // opencode takes its project directory from $PWD, not from the process cwd; set last so
    // no setting can point it elsewhere.
    env["PWD"] = request.workspace;
    // An open stdin pipe makes `opencode run` wait for input and never start.
    Json invocation{
        {"argv", argv}, {"env", env}, {"cwd", request.workspace}, {"keep_stdin_open", false}};
    // Too long for an argument: without a message `opencode run` reads it from stdin.
    if (!fits) invocation["stdin"] = request.prompt;
    return invocation;
}

}  // namespace aw::opencode
