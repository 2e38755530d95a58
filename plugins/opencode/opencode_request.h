// The host's run request as the opencode plugin reads it, and the `opencode run --format json`
// command line built from it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opencode_json.h"

namespace aw::opencode {

struct RunRequest {
    std::string prompt;
    std::string workspace;
    std::string model;              // "provider/model"; empty: the configured default
    std::string providerSessionId;  // ses_... id; empty for a new session
    std::string binary;             // settings.binary, empty for "opencode"
    std::vector<std::string> extraArgs;
    std::vector<std::pair<std::string, std::string>> extraEnv;

    //! Throws InvalidInput naming the offending field, Unsupported for approval_mode "ask".
    static RunRequest parse(std::string_view text);

    bool resumes() const { return !providerSessionId.empty(); }
};

//! The invocation document of the ABI: argv, env (with PWD), cwd, keep_stdin_open (false).
Json buildInvocation(const RunRequest& request);

}  // namespace aw::opencode
