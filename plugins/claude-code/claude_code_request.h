// The host's run request as the claude-code plugin reads it, and the Claude Code command line
// built from it (print mode for approval "auto", stdio protocol mode for "ask").
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "claude_code_json.h"

namespace aw::claude_code {

struct RunRequest {
    std::string prompt;
    std::string workspace;
    std::string model;              // empty: the CLI's default
    std::string approvalMode;       // "auto" | "ask"
    std::string providerSessionId;  // empty: a new Claude Code session
    Json previousUsage;             // null when the host has none
    std::string binary;             // settings.binary, empty for "claude"
    std::vector<std::string> extraArgs;
    std::vector<std::pair<std::string, std::string>> extraEnv;

    //! Throws InvalidInput with a message naming the offending field.
    static RunRequest parse(std::string_view text);

    //! "ask" needs a human to answer permission prompts: the stdio protocol mode.
    bool protocolMode() const { return approvalMode == "ask"; }
    bool resumes() const { return !providerSessionId.empty(); }
};

//! The invocation document of the ABI: argv, env, cwd, keep_stdin_open and the stdin preamble.
Json buildInvocation(const RunRequest& request);

//! One stdin line of the stdio protocol (JSON + newline).
std::string protocolLine(const Json& message);

}  // namespace aw::claude_code
