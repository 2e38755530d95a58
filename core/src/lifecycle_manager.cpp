#include "agent_worker/core/lifecycle_manager.h"

#include <algorithm>

#include "agent_worker/core/enum_names.h"
#include "agent_worker/core/identifiers.h"

namespace aw {
namespace {

constexpr EnumNameTable<ActivationStep, 5> kActivationStepNames{{
    {ActivationStep::MarkDeleted, "mark_deleted"},
    {ActivationStep::Create, "create"},
    {ActivationStep::Start, "start"},
    {ActivationStep::Restore, "restore"},
    {ActivationStep::Run, "run"},
}};

constexpr EnumNameTable<ActivationPath, 6> kActivationPathNames{{
    {ActivationPath::Run, "run"},
    {ActivationPath::AdoptRunning, "adopt_running"},
    {ActivationPath::StartRestoreRun, "start_restore_run"},
    {ActivationPath::CreateStartRestoreRun, "create_start_restore_run"},
    {ActivationPath::RecreateAfterDeletion, "recreate_after_deletion"},
    {ActivationPath::WaitForTransition, "wait_for_transition"},
}};

constexpr EnumNameTable<ReaperOutcome, 3> kReaperOutcomeNames{{
    {ReaperOutcome::Acted, "acted"},
    {ReaperOutcome::Failed, "failed"},
    {ReaperOutcome::Skipped, "skipped"},
}};

std::string seconds(std::int64_t ms) {
    return std::to_string(ms / 1000) + " s";
}

std::string named(WorkerStatus status) {
    return std::string(toString(status));
}

ProblemError workerBusy(const std::string& sessionId) {
    return ProblemError(Problem{"worker_busy",
                                "session " + sessionId +
                                    "'s worker changed while it was being activated; another "
                                    "host or a reaper is acting on it",
                                "retry shortly; queued runs are retried automatically"});
}

}  // namespace

std::string_view toString(ActivationStep step) {
    return nameIn(kActivationStepNames, step);
}
std::string_view toString(ActivationPath path) {
    return nameIn(kActivationPathNames, path);
}
std::string_view toString(ReaperOutcome outcome) {
    return nameIn(kReaperOutcomeNames, outcome);
}

bool ActivationDecision::includes(ActivationStep step) const {
    return std::find(steps.begin(), steps.end(), step) != steps.end();
}

void ReaperReport::add(ReaperWorkerResult result) {
    ++checked;
    switch (result.outcome) {
        case ReaperOutcome::Acted:
            ++acted;
            break;
        case ReaperOutcome::Failed:
            ++failed;
            break;
        case ReaperOutcome::Skipped:
            ++skipped;
            break;
    }
    workers.push_back(std::move(result));
}

nlohmann::json ReaperReport::toJson() const {
    nlohmann::json details = nlohmann::json::array();
    for (const auto& worker : workers) {
        details.push_back({{"session_id", worker.sessionId},
                           {"outcome", toString(worker.outcome)},
                           {"reason", worker.reason}});
    }
    return {{"checked", checked},
            {actedKey, acted},
            {"failed", failed},
            {"skipped", skipped},
            {"workers", std::move(details)}};
}

LifecycleManager::LifecycleManager(SessionWorkerStore& store, WorkerRuntime& runtime,
                                   WorkspaceSyncer& syncer, RunActivity& runs, Clock& clock,
                                   LifecyclePolicy policy)
    : store_(store),
      runtime_(runtime),
      syncer_(syncer),
      runs_(runs),
      clock_(clock),
      policy_(policy) {}

ActivationDecision LifecycleManager::decideActivation(const std::optional<SessionWorker>& worker,
                                                      SandboxState observed, std::int64_t nowMs,
                                                      const LifecyclePolicy& policy) {
    using enum ActivationStep;
    if (worker && isTransitional(worker->status) && !policy.isStuck(*worker, nowMs)) {
        return {ActivationPath::WaitForTransition,
                {},
                std::nullopt,
                "worker is " + named(worker->status) + " since " +
                    seconds(nowMs - worker->stateChangedAtMs) + "; retry when it settles"};
    }
    const WorkerStatus status = worker ? worker->status : WorkerStatus::Pending;
    std::string record = worker ? "record " + named(status) : std::string("no record");
    if (worker && isTransitional(status)) record += " (stuck)";

    switch (observed) {
        case SandboxState::Running:
            if (status == WorkerStatus::Running) {
                return {ActivationPath::Run, {Run}, std::nullopt, "sandbox running"};
            }
            // Whoever started it, its restore may not have finished: restore before running,
            // with keep_session so nothing the sandbox holds is overwritten.
            return {ActivationPath::AdoptRunning,
                    {Restore, Run},
                    status == WorkerStatus::Stopped ? RestoreSituation::StoppedWithFiles
                                                    : RestoreSituation::Adopted,
                    "sandbox running, " + record};
        case SandboxState::Stopped:
            return {ActivationPath::StartRestoreRun,
                    {Start, Restore, Run},
                    status == WorkerStatus::Running || status == WorkerStatus::Stopped
                        ? RestoreSituation::StoppedWithFiles
                        : RestoreSituation::Adopted,
                    "sandbox stopped, " + record};
        case SandboxState::Missing:
            break;
    }
    // Storage holds the session's files once a sync has been attempted; before that a new
    // sandbox starts empty whatever happened to the old one.
    const RestoreSituation situation = worker && worker->lastSyncAtMs > 0
                                           ? RestoreSituation::Recreated
                                           : RestoreSituation::NewWorker;
    if (status == WorkerStatus::Running || status == WorkerStatus::Stopped ||
        status == WorkerStatus::Stopping) {
        return {ActivationPath::RecreateAfterDeletion,
                {MarkDeleted, Create, Start, Restore, Run},
                situation,
                "sandbox missing, " + record};
    }
    return {ActivationPath::CreateStartRestoreRun,
            {Create, Start, Restore, Run},
            situation,
            "no sandbox, " + record};
}

bool LifecycleManager::transition(SessionWorker& worker, WorkerTransition change) {
    const std::int64_t now = clock_.nowMs();
    if (!store_.compareAndSet(worker.sessionId, worker.version, change, now)) return false;
    worker.status = change.status;
    worker.desiredStatus = change.desiredStatus;
    if (change.lastError) worker.lastError = *change.lastError;
    ++worker.version;
    worker.stateChangedAtMs = now;
    worker.updatedAtMs = now;
    return true;
}

bool LifecycleManager::finishTransition(SessionWorker& claimed, WorkerTransition change) {
    // Activity on the session bumps the version without changing the state; that must not
    // keep the owner of a transition from finishing it. A record whose status or
    // state_changed_at moved was taken over (stuck recovery) and is left to its new owner.
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (transition(claimed, change)) return true;
        const auto current = store_.find(claimed.sessionId);
        if (!current || current->status != claimed.status ||
            current->stateChangedAtMs != claimed.stateChangedAtMs) {
            return false;
        }
        claimed.version = current->version;
    }
    return false;
}

Activation LifecycleManager::activate(const WorkerSpec& spec) {
    using enum ActivationStep;
    if (auto problem = checkIdentifier("session", spec.sessionId)) {
        throw ProblemError(std::move(*problem));
    }
    const std::int64_t now = clock_.nowMs();
    if (!store_.touchActivity(spec.sessionId, now)) {
        SessionWorker fresh;
        fresh.sessionId = spec.sessionId;
        fresh.tenantId = spec.tenantId;
        fresh.status = WorkerStatus::Pending;
        fresh.desiredStatus = WorkerStatus::Running;
        fresh.runtime = spec.runtime;
        fresh.workspaceS3Prefix = spec.workspaceS3Prefix;
        fresh.lastActiveAtMs = now;
        fresh.stateChangedAtMs = now;
        fresh.createdAtMs = now;
        fresh.updatedAtMs = now;
        // Losing this insert to a concurrent first message is fine: that record serves.
        if (!store_.insertIfAbsent(fresh)) store_.touchActivity(spec.sessionId, now);
    }
    const auto found = store_.find(spec.sessionId);
    if (!found) throw workerBusy(spec.sessionId);
    SessionWorker worker = *found;

    const SandboxState observed = runtime_.inspect(worker);
    Activation activation{decideActivation(worker, observed, now, policy_), worker};
    // A sandbox that comes back empty after a stop needs what storage holds, not only links.
    if (activation.decision.restoreSituation == RestoreSituation::StoppedWithFiles &&
        !runtime_.keepsFilesWhileStopped()) {
        activation.decision.restoreSituation =
            worker.lastSyncAtMs > 0 ? RestoreSituation::Recreated : RestoreSituation::NewWorker;
    }
    const ActivationDecision& decision = activation.decision;
    if (decision.path == ActivationPath::WaitForTransition ||
        decision.path == ActivationPath::Run) {
        return activation;
    }

    if (decision.includes(MarkDeleted)) {
        const std::string why =
            "sandbox vanished: the runtime reports it missing while the record "
            "said " +
            named(worker.status);
        if (!transition(worker, {WorkerStatus::Deleted, WorkerStatus::Running, why})) {
            throw workerBusy(spec.sessionId);
        }
    }
    // The claim: from here until completeActivation this host owns the worker; a host that
    // dies here leaves `creating`, which recoverStuckWorkers surfaces after the timeout.
    if (!transition(worker, {WorkerStatus::Creating, WorkerStatus::Running, std::nullopt})) {
        throw workerBusy(spec.sessionId);
    }
    try {
        if (decision.includes(Create)) runtime_.create(worker);
        if (decision.includes(Start)) runtime_.start(worker);
    } catch (const std::exception& error) {
        const std::string why = "could not bring the sandbox up: " + std::string(error.what());
        finishTransition(worker, {WorkerStatus::Failed, WorkerStatus::Running, why});
        throw ProblemError(Problem{"worker_start_failed", "session " + spec.sessionId + ": " + why,
                                   "check the worker runtime (Docker daemon or local runtime "
                                   "logs); the next message tries again"});
    }
    activation.worker = worker;
    return activation;
}

SessionWorker LifecycleManager::completeActivation(const Activation& activation,
                                                   const std::optional<Problem>& restoreProblem) {
    SessionWorker worker = activation.worker;
    if (!activation.decision.includes(ActivationStep::Restore)) return worker;
    const WorkerTransition change =
        restoreProblem ? WorkerTransition{WorkerStatus::Failed, WorkerStatus::Running,
                                          "restore failed: " + restoreProblem->message}
                       : WorkerTransition{WorkerStatus::Running, WorkerStatus::Running, ""};
    if (!finishTransition(worker, change)) throw workerBusy(worker.sessionId);
    return worker;
}

SyncResult LifecycleManager::syncWorkspace(const SessionWorker& worker, std::string_view reason) {
    // The sync covers what existed when it began, so that is the time recorded: removal
    // compares it with the last activity.
    const std::int64_t startedAt = clock_.nowMs();
    SyncResult result;
    try {
        result = syncer_.syncWorkspace(worker, reason);
    } catch (const std::exception& error) {
        result = SyncResult{false, error.what()};
    }
    if (!result.succeeded && result.error.empty()) result.error = "sync failed without a reason";
    store_.recordSync(worker.sessionId,
                      SyncRecord{result.succeeded ? SyncStatus::Succeeded : SyncStatus::Failed,
                                 result.succeeded ? std::string() : result.error, startedAt});
    return result;
}

ReaperWorkerResult LifecycleManager::stopIfIdle(const SessionWorker& worker, std::int64_t nowMs) {
    const GateDecision gate =
        checkIdleStop(worker, runs_.unfinishedRunStatuses(worker.sessionId), nowMs, policy_);
    if (!gate.proceeds()) return {worker.sessionId, ReaperOutcome::Skipped, gate.reason};

    const SyncResult sync = syncWorkspace(worker, kSyncReasonIdleStop);
    if (!SyncPolicy::mayStop(sync)) {
        return {worker.sessionId, ReaperOutcome::Failed,
                "sync failed, worker kept running: " + sync.error};
    }
    SessionWorker claimed = worker;
    if (!transition(claimed, {WorkerStatus::Stopping, WorkerStatus::Stopped, std::nullopt})) {
        return {worker.sessionId, ReaperOutcome::Skipped,
                "record changed after it was read (new activity or another reaper)"};
    }
    try {
        runtime_.stop(claimed);
    } catch (const std::exception& error) {
        const std::string why = "stop failed: " + std::string(error.what());
        // Back to running: the next pass syncs and tries again.
        finishTransition(claimed, {WorkerStatus::Running, WorkerStatus::Running, why});
        return {worker.sessionId, ReaperOutcome::Failed, why};
    }
    finishTransition(claimed, {WorkerStatus::Stopped, WorkerStatus::Stopped, ""});
    return {worker.sessionId, ReaperOutcome::Acted, gate.reason + "; synced, stopped"};
}

ReaperReport LifecycleManager::stopIdleWorkers() {
    ReaperReport report;
    report.actedKey = "stopped";
    const std::int64_t now = clock_.nowMs();
    for (const auto& worker : store_.listByStatus(WorkerStatus::Running, policy_.batchSize)) {
        try {
            report.add(stopIfIdle(worker, now));
        } catch (const std::exception& error) {
            report.add({worker.sessionId, ReaperOutcome::Failed, error.what()});
        }
    }
    return report;
}

ReaperWorkerResult LifecycleManager::removeIfDue(const SessionWorker& worker, std::int64_t nowMs) {
    const GateDecision gate = checkRemoval(worker, nowMs, policy_);
    if (gate.verdict == GateVerdict::NotDue) {
        return {worker.sessionId, ReaperOutcome::Skipped, gate.reason};
    }
    if (gate.verdict == GateVerdict::Forbidden) {
        return {worker.sessionId, ReaperOutcome::Failed, gate.reason};
    }
    SessionWorker claimed = worker;
    if (!transition(claimed, {WorkerStatus::Removing, WorkerStatus::Removed, std::nullopt})) {
        return {worker.sessionId, ReaperOutcome::Skipped,
                "record changed after it was read (activation or another reaper)"};
    }
    try {
        runtime_.remove(claimed);
    } catch (const std::exception& error) {
        const std::string why = "remove failed: " + std::string(error.what());
        finishTransition(claimed, {WorkerStatus::Stopped, WorkerStatus::Stopped, why});
        return {worker.sessionId, ReaperOutcome::Failed, why};
    }
    finishTransition(claimed, {WorkerStatus::Removed, WorkerStatus::Removed, ""});
    return {worker.sessionId, ReaperOutcome::Acted, gate.reason + "; removed"};
}

ReaperReport LifecycleManager::removeLongStoppedWorkers() {
    ReaperReport report;
    report.actedKey = "removed";
    const std::int64_t now = clock_.nowMs();
    for (const auto& worker : store_.listByStatus(WorkerStatus::Stopped, policy_.batchSize)) {
        try {
            report.add(removeIfDue(worker, now));
        } catch (const std::exception& error) {
            report.add({worker.sessionId, ReaperOutcome::Failed, error.what()});
        }
    }
    return report;
}

ReaperWorkerResult LifecycleManager::recover(const SessionWorker& worker, std::int64_t nowMs) {
    const std::int64_t age = nowMs - worker.stateChangedAtMs;
    if (!policy_.isStuck(worker, nowMs)) {
        return {worker.sessionId, ReaperOutcome::Skipped,
                named(worker.status) + " for " + seconds(age) + ", under the transition timeout"};
    }
    const std::string stuck = named(worker.status) + " did not finish within " + seconds(age);
    SessionWorker claimed = worker;
    if (worker.status == WorkerStatus::Creating) {
        // Whether the restore finished is unknown: surface it; the next message adopts or
        // recreates the sandbox and restores again.
        if (!transition(claimed, {WorkerStatus::Failed, worker.desiredStatus, stuck})) {
            return {worker.sessionId, ReaperOutcome::Skipped, "record changed; left alone"};
        }
        return {worker.sessionId, ReaperOutcome::Failed, stuck + "; marked failed"};
    }
    // Claim first (same state, fresh state_changed_at) so two recoverers never both act.
    if (!transition(claimed, {worker.status, worker.desiredStatus, stuck + "; retrying"})) {
        return {worker.sessionId, ReaperOutcome::Skipped, "record changed; left alone"};
    }
    try {
        SandboxState state = runtime_.inspect(claimed);
        if (worker.status == WorkerStatus::Stopping) {
            // A worker only enters `stopping` after a successful sync, so finishing is safe.
            if (state == SandboxState::Running) {
                runtime_.stop(claimed);
                state = SandboxState::Stopped;
            }
            const bool vanished = state == SandboxState::Missing;
            finishTransition(
                claimed,
                {vanished ? WorkerStatus::Deleted : WorkerStatus::Stopped, WorkerStatus::Stopped,
                 vanished ? "sandbox vanished while stopping (synced before)" : ""});
            return {worker.sessionId, ReaperOutcome::Acted,
                    stuck + (vanished ? "; sandbox gone, marked deleted" : "; now stopped")};
        }
        if (state != SandboxState::Missing) runtime_.remove(claimed);
        finishTransition(claimed, {WorkerStatus::Removed, WorkerStatus::Removed, ""});
        return {worker.sessionId, ReaperOutcome::Acted, stuck + "; now removed"};
    } catch (const std::exception& error) {
        const std::string why = stuck + "; retry failed: " + error.what();
        finishTransition(claimed, {WorkerStatus::Failed, worker.desiredStatus, why});
        return {worker.sessionId, ReaperOutcome::Failed, why};
    }
}

ReaperReport LifecycleManager::recoverStuckWorkers() {
    ReaperReport report;
    report.actedKey = "recovered";
    const std::int64_t now = clock_.nowMs();
    for (WorkerStatus status :
         {WorkerStatus::Creating, WorkerStatus::Stopping, WorkerStatus::Removing}) {
        for (const auto& worker : store_.listByStatus(status, policy_.batchSize)) {
            try {
                report.add(recover(worker, now));
            } catch (const std::exception& error) {
                report.add({worker.sessionId, ReaperOutcome::Failed, error.what()});
            }
        }
    }
    return report;
}

}  // namespace aw
