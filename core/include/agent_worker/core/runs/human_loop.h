// The human loop of a running run: a human's reply goes to the plugin (which gives the
// bytes for the CLI's stdin), is logged as `human.response`, and `run.resumed` follows
// once nothing is pending. Requests nobody answers time out (denied, logged `timed_out`);
// a stop cancels what is pending, answered once.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "agent_worker/core/runs/plugin_session.h"
#include "agent_worker/core/runs/run_translation.h"

namespace aw {

//! A human's answer to a pending request.
struct HumanAnswer {
    std::string decision;  //!< allow | deny (timed_out: denied by the host)
    std::string message;
    nlohmann::json answers;  //!< a question's answers; null when none
    std::string by;          //!< user | host
};

class HumanLoop {
public:
    HumanLoop(RunTranslation& translation, PluginSession& plugin, RunLog& log, std::chrono::milliseconds timeout)
        : translation_(translation), plugin_(plugin), log_(log), timeout_(timeout) {}

    //! Answers a pending request. The plugin's refusal of the reply (ProviderCallError,
    //! e.g. `invalid_input` for a question without answers) propagates with nothing logged.
    void answer(const HumanLoopRecord& request, const HumanAnswer& answer);
    //! Answers `timed_out` every pending request older than the timeout.
    void expire(std::int64_t nowMs);
    //! Logs `cancelled` for every pending request (the plugin is not asked: the CLI is
    //! being stopped).
    void cancelPending();

private:
    RunTranslation& translation_;
    PluginSession& plugin_;
    RunLog& log_;
    std::chrono::milliseconds timeout_;
};

}  // namespace aw
