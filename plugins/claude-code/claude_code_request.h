// The Claude Code command line built from the host's run request (print mode for approval
// "auto", stdio protocol mode for "ask").
#pragma once

#include <agent_worker/provider_plugin.hpp>
#include <string>

namespace aw::claude_code {

// The kit's helpers (Json, RunRequest, Output, stringAt...) are this plugin's vocabulary.
using namespace aw::plugin;

//! "ask" needs a human to answer permission prompts: the stdio protocol mode.
inline bool protocolMode(const RunRequest& request) {
    return request.asksHuman();
}

//! The invocation document of the ABI: argv, env, cwd, keep_stdin_open and the stdin preamble.
Json buildInvocation(const RunRequest& request);

//! One stdin line of the stdio protocol (JSON + newline).
std::string protocolLine(const Json& message);

}  // namespace aw::claude_code
