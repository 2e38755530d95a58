// The session worker: the sandbox a chat session's agent runs in, as the domain sees it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aw {

//! Observed (and desired) state of a session worker. See docs/lifecycle.md.
enum class WorkerStatus {
    Pending,   //!< known, nothing created yet
    Creating,  //!< runtime is creating the sandbox
    Running,   //!< sandbox up, executor reachable
    Stopping,  //!< sync done, stop in progress
    Stopped,   //!< sandbox stopped, files kept by the runtime
    Removing,  //!< removal in progress
    Removed,   //!< sandbox gone on purpose; workspace lives in object storage
    Deleted,   //!< sandbox vanished without us (container missing)
    Failed,    //!< could not be brought up; see the worker's last error
};

std::string_view toString(WorkerStatus status);
std::optional<WorkerStatus> parseWorkerStatus(std::string_view name);

//! creating, stopping and removing: states a worker only passes through. One that stays
//! longer than the transition timeout is stuck (see LifecyclePolicy::isStuck).
bool isTransitional(WorkerStatus status);

//! Outcome of the last workspace sync, written back on every sync.
enum class SyncStatus { Never, Succeeded, Failed };

std::string_view toString(SyncStatus status);
std::optional<SyncStatus> parseSyncStatus(std::string_view name);

//! A session worker record. Times are Unix milliseconds; 0 means "never".
struct SessionWorker {
    std::string sessionId;
    std::string tenantId;
    WorkerStatus status = WorkerStatus::Pending;
    WorkerStatus desiredStatus = WorkerStatus::Running;
    std::int64_t version = 0;       //!< bumped by every compare-and-set transition and activity
    std::string runtime;            //!< `local`, `docker` or `swarm`
    std::string workspaceS3Prefix;  //!< see computeWorkspacePrefix()
    std::string lastError;          //!< why the last transition failed or was forced; may be empty
    SyncStatus lastSyncStatus = SyncStatus::Never;
    std::string lastSyncError;
    std::int64_t lastSyncAtMs = 0;
    std::int64_t lastActiveAtMs = 0;
    std::int64_t stateChangedAtMs = 0;  //!< when `status` last changed: ages and stuck detection
    std::int64_t createdAtMs = 0;
    std::int64_t updatedAtMs = 0;
    std::string providerSessionsJson = "{}";  //!< provider name -> the CLI's own session id
    //! Provider name -> the usage of the session's runs of that provider, summed (read only:
    //! settled by the run store when a run ends; the next run's `previous_usage`).
    std::string providerUsageJson = "{}";
};

}  // namespace aw
