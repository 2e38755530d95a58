// Session worker lifecycle: what a user message needs done to its worker
// (decideActivation), and the reaper passes that stop idle workers, remove long-stopped
// ones and take over stuck transitions. All state changes are compare-and-sets.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/lifecycle_policy.h"
#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/problem.h"
#include "agent_worker/core/repositories.h"
#include "agent_worker/core/restore_plan.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

//! One thing an activation does, in this order.
enum class ActivationStep {
    MarkDeleted,  //!< record the vanished sandbox as `deleted` before replacing it
    Create,
    Start,
    Restore,  //!< the host plans (RestorePlanner) and the executor restores and validates
    Run,
};

//! The shape of an activation, named for logs, metrics and tests.
enum class ActivationPath {
    Run,                    //!< sandbox running, record clean
    AdoptRunning,           //!< sandbox running, record not clean: restore, then run
    StartRestoreRun,        //!< sandbox stopped with its files
    CreateStartRestoreRun,  //!< no sandbox, as expected (new, removed, deleted, failed)
    RecreateAfterDeletion,  //!< record says a sandbox exists, runtime says missing
    WaitForTransition,      //!< another transition is in progress: retry shortly
};

std::string_view toString(ActivationStep step);
std::string_view toString(ActivationPath path);

//! What an activation must do, decided before anything is done.
struct ActivationDecision {
    ActivationPath path = ActivationPath::WaitForTransition;
    std::vector<ActivationStep> steps;
    //! Set when `steps` include Restore: the situation to plan the restore for.
    std::optional<RestoreSituation> restoreSituation;
    std::string reason;

    bool includes(ActivationStep step) const;
};

//! What the host needs to create a worker record for a session seen the first time.
struct WorkerSpec {
    std::string sessionId;
    std::string tenantId;
    std::string runtime;            //!< `local`, `docker` or `swarm`
    std::string workspaceS3Prefix;  //!< computeWorkspacePrefix(...).uri()
};

//! The result of LifecycleManager::activate.
struct Activation {
    ActivationDecision decision;
    SessionWorker worker;  //!< the record as the activation left it (its version included)
};

//! How one worker fared in a reaper pass.
enum class ReaperOutcome { Acted, Failed, Skipped };

std::string_view toString(ReaperOutcome outcome);

struct ReaperWorkerResult {
    std::string sessionId;
    ReaperOutcome outcome = ReaperOutcome::Skipped;
    std::string reason;
};

//! The counts a maintenance endpoint answers with: checked = acted + failed + skipped.
struct ReaperReport {
    std::string actedKey;  //!< `stopped`, `removed` or `recovered`
    std::size_t checked = 0;
    std::size_t acted = 0;
    std::size_t failed = 0;
    std::size_t skipped = 0;
    std::vector<ReaperWorkerResult> workers;

    void add(ReaperWorkerResult result);
    //! `{"checked", "<actedKey>", "failed", "skipped", "workers": [{session_id, outcome,
    //! reason}]}`
    nlohmann::json toJson() const;
};

//! Drives session workers through their lifecycle over the ports. Safe to run on several
//! hosts at once: every state change is a compare-and-set, the loser backs off.
class LifecycleManager {
public:
    LifecycleManager(SessionWorkerStore& store, WorkerRuntime& runtime, WorkspaceSyncer& syncer,
                     RunActivity& runs, Clock& clock, LifecyclePolicy policy);

    //! What a user message needs done, from the record (none for a new session) and what
    //! the runtime observes. Transitional states wait unless stuck; otherwise the runtime's
    //! observation is believed over the record: running -> run (restoring first when the
    //! record is not a clean `running`); stopped -> start, restore, run; missing -> create,
    //! start, restore, run, marking the record `deleted` first when it claimed a sandbox
    //! (running, stopped, stopping).
    static ActivationDecision decideActivation(const std::optional<SessionWorker>& worker,
                                               SandboxState observed, std::int64_t nowMs,
                                               const LifecyclePolicy& policy);

    //! Handles a user message up to the restore: records the activity (creating the record
    //! for a new session), decides, then marks `deleted`, claims the record as `creating`
    //! and creates/starts the sandbox as decided. When the decision includes Restore the
    //! caller restores and validates, then calls completeActivation. Throws ProblemError
    //! `worker_busy` when another host changed the record meanwhile (retry the run later)
    //! and `worker_start_failed` when the runtime failed (the record is then `failed`).
    Activation activate(const WorkerSpec& spec);

    //! Ends an activation that included a restore: `running` when `restoreProblem` is
    //! empty, else `failed` with the problem's message (the idle reaper then never syncs a
    //! half-restored workspace, and the next message restores again). Returns the record.
    //! Throws ProblemError `worker_busy` when the record changed meanwhile.
    SessionWorker completeActivation(const Activation& activation,
                                     const std::optional<Problem>& restoreProblem);

    //! Syncs a running worker's workspace and writes the outcome back to the record
    //! (last_sync_status, last_sync_error, last_sync_at), success or failure.
    SyncResult syncWorkspace(const SessionWorker& worker, std::string_view reason);

    //! One idle-stop pass over running workers: idle ones are synced, and stopped only when
    //! that sync succeeded; on failure they stay running and the pass counts them failed.
    ReaperReport stopIdleWorkers();

    //! One pass over stopped workers: those stopped past remove_after whose last sync
    //! succeeded after their last activity are removed; a failed or missing sync forbids it
    //! and counts as failed.
    ReaperReport removeLongStoppedWorkers();

    //! One pass over stuck transitions (creating, stopping, removing past the transition
    //! timeout): stopping and removing are retried toward their desired state; creating,
    //! and any retry that fails, is surfaced as `failed` with last_error saying why.
    ReaperReport recoverStuckWorkers();

private:
    ReaperWorkerResult stopIfIdle(const SessionWorker& worker, std::int64_t nowMs);
    ReaperWorkerResult removeIfDue(const SessionWorker& worker, std::int64_t nowMs);
    ReaperWorkerResult recover(const SessionWorker& worker, std::int64_t nowMs);
    //! compareAndSet; on success `worker` becomes the record as written.
    bool transition(SessionWorker& worker, WorkerTransition change);
    //! Ends a transition this manager claimed, riding over version bumps from activity;
    //! false when the record was taken over (see the definition).
    bool finishTransition(SessionWorker& claimed, WorkerTransition change);

    SessionWorkerStore& store_;
    WorkerRuntime& runtime_;
    WorkspaceSyncer& syncer_;
    RunActivity& runs_;
    Clock& clock_;
    LifecyclePolicy policy_;
};

}  // namespace aw
