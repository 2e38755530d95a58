// The lifecycle reapers on a timer: idle stop (sync first), removal of long-stopped workers
// and recovery of stuck transitions. The same passes run on request through
// POST /v1/maintenance/idle-stop and /remove-stopped. Replicas on one database take turns:
// a pass runs only under the cluster's maintenance lock (ClusterLock), so two replicas
// never work through the same workers at once; a timer pass that finds it taken is skipped.
#pragma once

#include <Poco/Logger.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent_worker/core/lifecycle_manager.h"
#include "agent_worker/core/run_store.h"
#include "db/cluster_lock.h"

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
    Maintenance(LifecycleManager& lifecycle, ClusterLock& lock, std::chrono::seconds interval)
        : lifecycle_(lifecycle), lock_(lock), interval_(interval) {}
    ~Maintenance() { stop(); }

    void start();
    void stop();

    //! The idle-stop pass now, once the lock is free (waiting at most `patience`). Throws
    //! Refused Unavailable `maintenance_busy` when it stayed taken.
    ReaperReport stopIdleWorkers(std::chrono::milliseconds patience);
    //! The remove pass, likewise.
    ReaperReport removeLongStoppedWorkers(std::chrono::milliseconds patience);

private:
    void loop();
    void pass();
    void passes(Poco::Logger& log);
    ReaperReport runAlone(ReaperReport (LifecycleManager::*pass)(),
                          std::chrono::milliseconds patience);

    LifecycleManager& lifecycle_;
    ClusterLock& lock_;
    std::chrono::seconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace aw
