// RunEngine, taking a run over: a run found running (or waiting for a human) when it is
// claimed was driven by a host that died, a replica killed or this host's previous life.
// Its CLI may still be at work in the worker, whose executor keeps the output spooled until a
// host accepts it. When the executor still has the run, this host carries on with it: the
// plugin's state is rebuilt from the lines already translated (RunStore's translated-through
// seq), the lines stored after them are translated, and what the executor delivers next
// follows; nothing is started again and no event is stored twice. When the executor no longer
// has it (a local worker ends with its host), the run fails as `host_lost`.
#include <Poco/Logger.h>

#include "agent_worker/core/retry_policy.h"
#include "agent_worker/core/runs/cli_invocation.h"
#include "agent_worker/core/runs/plugin_session.h"
#include "agent_worker/core/runs/run_failure.h"
#include "agent_worker/core/runs/run_translation.h"
#include "logging/json_formatter.h"
#include "runs/active_run.h"
#include "runs/run_engine.h"

namespace aw {
namespace {

using Json = nlohmann::json;

//! The last stdout seq handed on to the plugin (translated or quarantined): 0 when none.
std::int64_t translatedThrough(RunStore& store, const std::string& runId) {
    std::int64_t through = 0;
    for (const auto& record : store.rawOutput(runId, "stdout")) {
        if (record.state != RawState::Pending) through = std::max(through, record.seq);
    }
    return through;
}

}  // namespace

void RunEngine::takeOver(ActiveRun& active) {
    const RunRecord& run = active.run;
    // Started by the host that died: whatever fails from here ends the run, and it is never
    // queued to start again (its CLI may have done half its work).
    active.cliStarted = true;
    logFields(Poco::Logger::get("runs"), Poco::Message::PRIO_INFORMATION, "taking a run over",
              {{"run_id", run.runId},
               {"status", std::string(toString(run.status))},
               {"attempt", active.entry.attempts}});
    const auto lost = [&](const std::string& why) {
        return RunAttemptFailure(
            {"host_lost",
             "agent-host stopped while this run was " + std::string(toString(run.status)) +
                 " (attempt " + std::to_string(active.entry.attempts - 1) +
                 ") and the agent's process ended with it: " + why,
             "send the message again to continue the session"},
            false);
    };
    // Asked before the worker is activated, which would start a stopped one anew.
    const auto worker = workers_.find(run.sessionId);
    if (!worker || !gateway_.executorAlive(*worker))
        throw lost("the session worker's executor is gone");
    active.worker = preparation_.activate(run);
    try {
        active.worker.executor->runStatus(active.worker.trace, run.runId);
    } catch (const ExecutorCallError& e) {
        throw lost(std::string("the worker's executor does not have it (") + e.what() + ")");
    }
    active.plugin = std::make_unique<PluginSession>(options_.plugin, providers_, store_, run.runId,
                                                    run.provider, &stopping_);
    active.plugin->acquire();
    active.translation = std::make_unique<RunTranslation>(
        RunChannel{run, *active.worker.executor, active.worker.trace}, log_, workers_,
        options_.messageSyncInterval);
    active.humanLoop = std::make_unique<HumanLoop>(*active.translation, *active.plugin, log_,
                                                   options_.humanTimeout);

    Json settings = options_.providerSettings.value(run.provider, Json::object());
    settings["env"] = providerEnvironment(active.plugin->facts(), settings);
    const std::int64_t through = translatedThrough(store_, run.runId);
    try {
        active.plugin->resume(
            openRequest(run, active.worker.worker, active.worker.roots.workspaceRoot, settings),
            through + 1);
    } catch (const ProviderCallError& e) {
        throw RunAttemptFailure(
            {e.problem().code,
             "provider '" + run.provider + "' could not take the run over: " + e.problem().message,
             "see GET /admin/providers"},
            false);
    }
    active.output = OutputAssembler(through + 1);
    takeStoredOutput(active);
    superviseCli(active);
}

}  // namespace aw
