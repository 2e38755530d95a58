// Step 3 of a run: the session's worker is brought up for it. The lifecycle decides
// (create, start, restore); a restore is planned with the provider's state paths and
// carried out on the worker's executor (restore, link, validate), recorded as a
// `workspace.restore` event. A missing required path fails the run for good.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "agent_worker/core/executor_client.h"
#include "agent_worker/core/lifecycle_manager.h"
#include "agent_worker/core/runtime_manifest.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runs/run_log.h"
#include "agent_worker/core/runs/worker_placement.h"
#include "agent_worker/core/worker_gateway.h"

namespace aw {

struct WorkerPreparationOptions {
    WorkerPlacement placement;
    RestoreLevel restoreLevel = RestoreLevel::AgentState;
    //! The deployment's manifest; each provider's state paths are merged in per run.
    RuntimeManifest manifest;
};

//! A worker ready for a run: its record, its executor, and the trace every call of the
//! run carries.
struct PreparedWorker {
    Activation activation;
    SessionWorker worker;
    std::unique_ptr<ExecutorClient> executor;
    TraceContext trace;
    RestoreRoots roots;
};

class WorkerPreparation {
public:
    WorkerPreparation(WorkerPreparationOptions options, LifecycleManager& lifecycle, WorkerGateway& gateway,
                      RunLog& log)
        : options_(std::move(options)), lifecycle_(lifecycle), gateway_(gateway), log_(log) {}

    //! Brings the worker up as the lifecycle decides. Throws RunAttemptFailure (retryable)
    //! when the worker is in transition or could not start.
    PreparedWorker activate(const RunRecord& run);
    //! When the activation includes a restore: plans it (with the provider's `state_paths`
    //! from its facts), restores, links and validates, records `workspace.restore`, and
    //! completes the activation. Throws RunAttemptFailure: `restore_validation_failed` is
    //! final, other failures are retried.
    void restore(PreparedWorker& prepared, const RunRecord& run, int attempt, const nlohmann::json& providerFacts);

private:
    WorkerPreparationOptions options_;
    LifecycleManager& lifecycle_;
    WorkerGateway& gateway_;
    RunLog& log_;
};

//! "~/.claude/projects" -> "claude-projects": a manifest name for a plugin's state path.
std::string statePathName(const std::string& path);

}  // namespace aw
