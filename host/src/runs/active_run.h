// What RunEngine keeps of a run it drives (its parts are in run_engine.cpp and
// run_engine_replies.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "agent_worker/core/runs/human_loop.h"
#include "agent_worker/core/runs/output_assembly.h"
#include "agent_worker/core/runs/plugin_session.h"
#include "agent_worker/core/runs/run_translation.h"
#include "agent_worker/core/runs/stop_escalation.h"
#include "runs/run_engine.h"

namespace aw {

//! A run this host is driving, and the parts that drive it.
struct RunEngine::ActiveRun {
    QueueEntry entry;
    RunRecord run;
    PreparedWorker worker;
    std::unique_ptr<PluginSession> plugin;
    std::unique_ptr<RunTranslation> translation;
    std::unique_ptr<HumanLoop> humanLoop;
    OutputAssembler output;
    StopEscalation escalation{std::chrono::milliseconds(0)};
    bool cliStarted = false;
    bool done = false;
    int executorMissing = 0;  //!< checks in a row that found the executor gone
    std::chrono::steady_clock::time_point startedAt = std::chrono::steady_clock::now();
    //! The engine's lease keeper's alone (RunEngine::keepLeases).
    std::chrono::steady_clock::time_point lastLeaseRenewal = std::chrono::steady_clock::now();
    //! Set by the lease keeper when another host holds the run's entry now.
    std::atomic<bool> leaseLost{false};

    // Filled by callback and API threads, emptied by the run's thread.
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<RawOutputRecord> inbox;
    std::deque<std::function<void()>> commands;

    void post(std::function<void()> command) {
        {
            std::lock_guard lock(mutex);
            commands.push_back(std::move(command));
        }
        wake.notify_all();
    }
};

}  // namespace aw
