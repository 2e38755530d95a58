// Builds the Claude Code invocation (see docs/providers.md).
#include "claude_code_request.h"

namespace aw::claude_code {

std::string protocolLine(const Json& message) {
    return dumpJson(message) + "\n";
}

Json buildInvocation(const RunRequest& request) {
    Json argv = Json::array();
    argv.push_back(request.binary.empty() ? "claude" : request.binary);
    argv.push_back("-p");
    if (protocolMode(request)) {
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
    // Live typing: text and thinking arrive as stream_event deltas while the model writes,
    // not only as whole blocks once each is done.
    argv.push_back("--include-partial-messages");
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
    if (!protocolMode(request)) env["IS_SANDBOX"] = "1";
    for (const auto& [name, value] : request.extraEnv) env[name] = value;

    Json invocation{{"env", env}, {"cwd", request.workspace}};
    if (protocolMode(request)) {
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
    } else if (request.promptFitsArgument()) {
        // A prompt starting with '-' would otherwise be read as an option.
        if (request.prompt.front() == '-') argv.push_back("--");
        argv.push_back(request.prompt);
        invocation["keep_stdin_open"] = false;
    } else {
        // Too long for an argument: `claude -p` without one reads the prompt from stdin.
        invocation["keep_stdin_open"] = false;
        invocation["stdin"] = request.prompt;
    }
    invocation["argv"] = argv;
    return invocation;
}

}  // namespace aw::claude_code
