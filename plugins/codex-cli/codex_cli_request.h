// The host's run request as the codex-cli plugin reads it, and the `codex exec --json` command
// line built from it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "codex_cli_json.h"

namespace aw::codex_cli {

struct RunRequest {
    std::string prompt;
    std::string workspace;
    std::string model;              // empty: the model of the Codex configuration
    std::string providerSessionId;  // the thread id; empty for a new thread
    Json previousUsage;             // null when the host has none
    std::string binary;             // settings.binary, empty for "codex"
    std::vector<std::string> extraArgs;
    std::vector<std::pair<std::string, std::string>> extraEnv;

    //! Throws InvalidInput naming the offending field, Unsupported for approval_mode "ask".
    static RunRequest parse(std::string_view text);

    bool resumes() const { return !providerSessionId.empty(); }
};

//! The invocation document of the ABI: argv, env, cwd and keep_stdin_open (always false).
Json buildInvocation(const RunRequest& request);

}  // namespace aw::codex_cli
