// The `opencode run --format json` command line built from the host's run request (its
// previous_usage is not needed: opencode reports each model call on its own).
#pragma once

#include <agent_worker/provider_plugin.hpp>

namespace aw::opencode {

// The kit's helpers (Json, RunRequest, Output, stringAt...) are this plugin's vocabulary.
using namespace aw::plugin;

//! The invocation document of the ABI: argv, env (with PWD), cwd, keep_stdin_open (false).
Json buildInvocation(const RunRequest& request);

}  // namespace aw::opencode
