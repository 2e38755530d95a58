// Builds the `codex exec` invocation (see docs/providers.md).
#include "codex_cli_request.h"

namespace aw::codex_cli {

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
    const bool fits = request.promptFitsArgument();
    // A prompt starting with '-' would otherwise be read as an option.
    if (fits && request.prompt.front() == '-') argv.push_back("--");
    if (request.resumes()) argv.push_back(request.providerSessionId);
    // Too long for an argument: the prompt "-" makes `codex exec` read it from stdin.
    argv.push_back(fits ? request.prompt : "-");

    Json env = Json::object();
    for (const auto& [name, value] : request.extraEnv) env[name] = value;
    // An open stdin pipe makes `codex exec` wait for more prompt text forever.
    Json invocation{
        {"argv", argv}, {"env", env}, {"cwd", request.workspace}, {"keep_stdin_open", false}};
    if (!fits) invocation["stdin"] = request.prompt;
    return invocation;
}

}  // namespace aw::codex_cli
