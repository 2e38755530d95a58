// The lifecycle reapers on a timer: idle stop (sync first), removal of long-stopped workers
// and recovery of stuck transitions. The same passes run on request through
// POST /v1/maintenance/idle-stop and /remove-stopped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent_worker/core/lifecycle_manager.h"
#include "agent_worker/core/run_store.h"

namespace aw {

//! RunActivity over the run store: what the idle reaper asks before stopping a worker.
class StoreRunActivity : public RunActivity {
public:
    explicit StoreRunActivity(RunStore& store) : store_(store) {}
    std::vector<RunStatus> unfinishedRunStatuses(const std::string& sessionId) override {
        return store_.unfinishedRunStatuses(sessionId);
    }

private:
    RunStore& store_;
};

class Maintenance {
public:
    //! `interval` 0 disables the timer.
    Maintenance(LifecycleManager& lifecycle, std::chrono::seconds interval)
        : lifecycle_(lifecycle), interval_(interval) {}
    ~Maintenance() { stop(); }

    void start();
    void stop();

private:
    void loop();
    void pass();

    LifecycleManager& lifecycle_;
    std::chrono::seconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace aw
