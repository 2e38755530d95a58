// The rules that keep users' files safe while workers come and go: when a worker is idle,
// when it may be stopped or removed, when a transition is stuck. Pure functions of values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/run.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

//! Timings of the lifecycle (config `lifecycle.*`).
struct LifecyclePolicy {
    std::int64_t idleTimeoutMs = 30 * 60 * 1000;          //!< lifecycle.idle_timeout_s
    std::int64_t removeAfterMs = 7 * 24 * 3600 * 1000LL;  //!< lifecycle.remove_after_s
    //! A creating, stopping or removing worker older than this is stuck. Longer than the
    //! slowest create + start + restore, or live transitions would be taken over.
    std::int64_t transitionTimeoutMs = 10 * 60 * 1000;
    std::size_t batchSize = 100;  //!< workers one reaper pass looks at

    //! In a transitional state for longer than the transition timeout.
    bool isStuck(const SessionWorker& worker, std::int64_t nowMs) const;
};

//! What a gate says about acting on a worker now.
enum class GateVerdict {
    Proceed,    //!< act
    NotDue,     //!< nothing to do yet (busy, too recent, wrong state): not a problem
    Forbidden,  //!< would be due, but acting could lose files: needs attention
};

struct GateDecision {
    GateVerdict verdict = GateVerdict::NotDue;
    std::string reason;  //!< why, for pass reports and logs
    bool proceeds() const { return verdict == GateVerdict::Proceed; }
};

//! Whether an idle stop is due: the worker is running, none of its runs is active (a run
//! waiting for a human counts as active, see isActive(RunStatus)) and its last activity is
//! at least the idle timeout ago. The sync that must precede the stop is SyncPolicy's.
GateDecision checkIdleStop(const SessionWorker& worker,
                           const std::vector<RunStatus>& unfinishedRuns, std::int64_t nowMs,
                           const LifecyclePolicy& policy);

//! Whether removing a stopped worker is due (stopped for at least remove_after) and allowed
//! (SyncPolicy::mayRemove). Forbidden when due but the storage may lack its latest files.
GateDecision checkRemoval(const SessionWorker& worker, std::int64_t nowMs,
                          const LifecyclePolicy& policy);

//! Files leave a sandbox only through a successful sync: stopping needs one just now,
//! removing needs one that began after the last activity.
class SyncPolicy {
public:
    //! A stop may follow only the successful sync done for it.
    static bool mayStop(const SyncResult& syncJustDone) { return syncJustDone.succeeded; }

    //! The last sync succeeded and began after the worker's last activity, so the storage
    //! holds everything the sandbox holds.
    static bool mayRemove(const SessionWorker& worker) { return !removalBlocker(worker); }

    //! Why removal is forbidden (never synced, last sync failed, last sync older than the
    //! last activity); empty when allowed.
    static std::optional<std::string> removalBlocker(const SessionWorker& worker);
};

}  // namespace aw
