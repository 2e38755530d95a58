// Steps 7 and 8 of a run: what the plugin answered becomes the run's log and its effects.
// Each chunk's events are stored together with the chunk's raw records (so a replay after
// a crash knows what was translated); bytes the plugin wants written go to the CLI's
// stdin; a `human.request` puts the run in `waiting_human`; and one incremental workspace
// sync covers every message that ended since the last one, at most one per sync interval
// (a sync per message would make the CLI's pace the sync's, and a chatty agent's messages
// would each cost an upload). Messages that end within the interval wait for the run's
// loop to call syncIfDue, or for the exit, which syncs what is pending before the run's
// terminal event. The exit settles the run with exactly one terminal event.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent_worker/core/executor_client.h"
#include "agent_worker/core/plugin_output_gate.h"
#include "agent_worker/core/repositories.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runs/output_assembly.h"
#include "agent_worker/core/runs/run_log.h"

namespace aw {

//! The live links of one running run: its record, its worker's executor and its trace.
struct RunChannel {
    const RunRecord& run;
    ExecutorClient& executor;
    const TraceContext& trace;
};

class RunTranslation {
public:
    //! `provider` names the plugin in the run's provider.line_error events.
    //! `syncInterval`: the least time between two syncs after message.stop (0: none).
    RunTranslation(RunChannel channel, RunLog& log, SessionWorkerStore& workers,
                   std::chrono::milliseconds syncInterval = std::chrono::milliseconds(0))
        : channel_(channel),
          log_(log),
          workers_(workers),
          gate_(channel.run.provider),
          syncInterval_(syncInterval) {}

    //! A chunk of lines the plugin answered (`outputs[i]` for `lines[i]`).
    void translated(const std::vector<AssembledLine>& lines, const nlohmann::json& outputs);
    //! A line that kept crashing the plugin: skipped, and surfaced as `provider.quarantine`.
    void quarantined(const AssembledLine& line, int crashes, const std::string& why);
    //! The plugin's output for the CLI's exit; adds the host's terminal event when the
    //! plugin gave none (a plugin that lies does not leave the run open).
    void finished(const RawOutputRecord& exitRecord, const CliExit& exit, const nlohmann::json& output,
                  bool stopRequested);

    //! One plugin output document, checked like on every other path (PluginOutputGate): an
    //! accepted output's events, or one `provider.line_error` in place of a rejected one's
    //! (an unknown or host-only type, a missing field, a field of the wrong JSON type, or
    //! the plugin's own error). Its stdin bytes are kept either way.
    PluginOutputGate::Admitted admit(const nlohmann::json& output, const std::string& sourceId,
                                     PluginCall call = PluginCall::Feed);
    //! The admitted events as the log stores them; their ids come from `sourceId`.
    static std::vector<NewEvent> eventsOf(const PluginOutputGate::Admitted& admitted, const std::string& sourceId);
    //! Writes the admitted `stdin` bytes (and `close_stdin`) to the CLI; an admitted
    //! `human.request` makes the run wait for a human.
    void effects(const PluginOutputGate::Admitted& admitted);
    //! A plugin's human.response withdraws a request the CLI gave up on. Once the host has
    //! answered or cancelled the request, that echo would answer it twice: it is dropped.
    void dropSettledHumanResponses(std::vector<NewEvent>& events);
    //! Syncs the messages that ended since the last sync once the interval has passed
    //! since it (the run's loop calls this as it wakes).
    void syncIfDue();
    //! One incremental sync for the messages that ended (`message.stop` event ids).
    void syncAfterMessages(const std::vector<std::string>& messageEventIds);

    const RunChannel& channel() const { return channel_; }

private:
    //! One sync for the messages that ended since the last one, if any.
    void syncUnsynced();
    //! When the executor gave up some of the run's output (the host refused it for good),
    //! the terminal event says how much and why (`data.output_lost`).
    void reportLostOutput(std::vector<NewEvent>& events, const OutputLoss& loss);

    RunChannel channel_;
    RunLog& log_;
    SessionWorkerStore& workers_;
    PluginOutputGate gate_;
    const std::chrono::milliseconds syncInterval_;
    std::vector<std::string> unsyncedMessages_;  //!< message.stop ids since the last sync
    std::chrono::steady_clock::time_point lastSync_{};  //!< when the last sync began
};

}  // namespace aw
