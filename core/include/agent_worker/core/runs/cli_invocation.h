// What the agent CLI is started with: the plugin's open request (built from the run and
// the session's provider state), the provider's environment (its well-known variables
// from the host's environment, then the operator's settings), and the executor's run
// spec from the plugin's invocation (its env over the provider's, its cwd inside the
// workspace). Used by the run engine and by `agent-provider-host --run`.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

//! Reads one variable of the host's environment (std::getenv by default).
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;
std::optional<std::string> processEnvironment(const std::string& name);

//! The provider's `env_vars` (from its facts) found in the environment, then
//! `settings.env` (providers.<name>.env) over them. Secrets: they reach the CLI only.
nlohmann::json providerEnvironment(const nlohmann::json& facts, const nlohmann::json& settings,
                                   const EnvironmentLookup& lookup = processEnvironment);

//! The plugin's open request: run and session ids, prompt, approval mode, workspace,
//! model, and when the session already has a provider session, its id and the usage the
//! session's earlier runs reported (`previous_usage`). `settings` is providers.<name>
//! with the resolved `env`.
nlohmann::json openRequest(const RunRecord& run, const SessionWorker& worker, const std::string& workspaceRoot,
                           const nlohmann::json& settings);

//! The executor's run spec from the plugin's invocation. `env` is the provider's
//! environment with the invocation's own env over it; a relative or empty cwd is taken
//! inside `workspaceRoot`. Throws ProblemError `invalid_invocation` naming the field when
//! the invocation's argv, env or stdin has the wrong JSON type, or argv is empty.
ExecutorRunSpec runSpec(const std::string& runId, const nlohmann::json& invocation, const nlohmann::json& env,
                        const std::string& workspaceRoot);

}  // namespace aw
