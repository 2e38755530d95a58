// The `codex exec --json` command line built from the host's run request.
#pragma once

#include <agent_worker/provider_plugin.hpp>

namespace aw::codex_cli {

// The kit's helpers (Json, RunRequest, Output, stringAt...) are this plugin's vocabulary.
using namespace aw::plugin;

//! The invocation document of the ABI: argv, env, cwd and keep_stdin_open (always false).
Json buildInvocation(const RunRequest& request);

}  // namespace aw::codex_cli
