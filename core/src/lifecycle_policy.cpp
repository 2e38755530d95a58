#include "agent_worker/core/lifecycle_policy.h"

#include <algorithm>

namespace aw {
namespace {

std::string seconds(std::int64_t ms) {
    return std::to_string(ms / 1000) + " s";
}

}  // namespace

bool LifecyclePolicy::isStuck(const SessionWorker& worker, std::int64_t nowMs) const {
    return isTransitional(worker.status) && nowMs - worker.stateChangedAtMs >= transitionTimeoutMs;
}

GateDecision checkIdleStop(const SessionWorker& worker,
                           const std::vector<RunStatus>& unfinishedRuns, std::int64_t nowMs,
                           const LifecyclePolicy& policy) {
    if (worker.status != WorkerStatus::Running) {
        return {GateVerdict::NotDue, "worker is " + std::string(toString(worker.status))};
    }
    const auto active = std::find_if(unfinishedRuns.begin(), unfinishedRuns.end(),
                                     [](RunStatus status) { return isActive(status); });
    if (active != unfinishedRuns.end()) {
        return {GateVerdict::NotDue, "a run is " + std::string(toString(*active))};
    }
    const std::int64_t idleFor = nowMs - worker.lastActiveAtMs;
    if (idleFor < policy.idleTimeoutMs) {
        return {GateVerdict::NotDue, "idle for " + seconds(idleFor) +
                                         ", under the idle timeout of " +
                                         seconds(policy.idleTimeoutMs)};
    }
    return {GateVerdict::Proceed, "idle for " + seconds(idleFor)};
}

GateDecision checkRemoval(const SessionWorker& worker, std::int64_t nowMs,
                          const LifecyclePolicy& policy) {
    if (worker.status != WorkerStatus::Stopped) {
        return {GateVerdict::NotDue, "worker is " + std::string(toString(worker.status))};
    }
    const std::int64_t stoppedFor = nowMs - worker.stateChangedAtMs;
    if (stoppedFor < policy.removeAfterMs) {
        return {GateVerdict::NotDue, "stopped for " + seconds(stoppedFor) +
                                         ", under remove_after of " +
                                         seconds(policy.removeAfterMs)};
    }
    if (auto blocker = SyncPolicy::removalBlocker(worker)) {
        return {GateVerdict::Forbidden, "not removed: " + *blocker};
    }
    return {GateVerdict::Proceed,
            "stopped for " + seconds(stoppedFor) + ", synced after last activity"};
}

std::optional<std::string> SyncPolicy::removalBlocker(const SessionWorker& worker) {
    switch (worker.lastSyncStatus) {
        case SyncStatus::Never:
            return "the workspace was never synced";
        case SyncStatus::Failed:
            return "the last sync failed (" + worker.lastSyncError + ")";
        case SyncStatus::Succeeded:
            break;
    }
    // Strictly after: a sync that began in the same millisecond as the activity may have
    // missed what that activity wrote.
    if (worker.lastSyncAtMs <= worker.lastActiveAtMs) {
        return "the last successful sync began before the last activity";
    }
    return std::nullopt;
}

}  // namespace aw
