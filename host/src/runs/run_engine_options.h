// The run engine's options: its own (threads, stop, timeouts) and those of the run path's
// parts it assembles. Configuration fills them; nothing here depends on the engine.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>

#include "agent_worker/core/runs/message_submission.h"
#include "agent_worker/core/runs/plugin_session.h"
#include "agent_worker/core/runs/queue_driver.h"
#include "agent_worker/core/runs/worker_preparation.h"

namespace aw {

struct RunEngineOptions {
    int concurrency = 4;  //!< dispatcher threads (0: only POST /v1/run-queue/drain runs)
    std::chrono::milliseconds pollInterval{500};
    std::chrono::milliseconds stopGrace{5000};  //!< interrupt, then TERM, then KILL
    std::chrono::milliseconds runTimeout{3600000};
    std::chrono::milliseconds humanTimeout{3600000};
    //! A run's workspace syncs after message.stop at most this often (0: after every chunk
    //! that ended a message); see RunTranslation.
    std::chrono::milliseconds messageSyncInterval{1000};
    std::chrono::milliseconds providerCallTimeout{30000};  //!< each request to a plugin
    QueueDriverOptions queue;            //!< host id (lease holder), lease, retry backoff
    SubmissionOptions submission;        //!< worker placement, max attempts
    RestoreLevel restoreLevel = RestoreLevel::AgentState;
    RuntimeManifest manifest;            //!< each provider's state paths merged in per run
    PluginSessionOptions plugin;         //!< provider wait, quarantine
    //! `providers.<name>`: {"binary", "args", "env"} per provider.
    nlohmann::json providerSettings = nlohmann::json::object();
};

}  // namespace aw
