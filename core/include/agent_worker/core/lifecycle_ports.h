// Ports the lifecycle logic drives besides the store: the worker runtime, the executor's
// workspace sync, the runs of a session and the clock. host/ implements them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/run.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

//! What the runtime reports about a worker's sandbox (container or local process tree).
enum class SandboxState {
    Missing,  //!< no sandbox: never created, removed, or vanished
    Stopped,  //!< exists with its files, not running
    Running,
};

std::string_view toString(SandboxState state);
std::optional<SandboxState> parseSandboxState(std::string_view name);

//! Creates, starts, stops and removes sandboxes (Docker Engine API, or local processes).
//! Every operation must be idempotent: starting a running sandbox, stopping a stopped one
//! and removing a missing one succeed, because retries after a crash or a timeout repeat
//! them. Failures throw ProblemError (for example `runtime_unavailable`); a sandbox that is
//! simply absent is not a failure of `inspect`, it is SandboxState::Missing.
class WorkerRuntime {
public:
    virtual ~WorkerRuntime() = default;
    //! Whether the sandbox exists and runs, as the runtime sees it right now.
    virtual SandboxState inspect(const SessionWorker& worker) = 0;
    virtual void create(const SessionWorker& worker) = 0;
    virtual void start(const SessionWorker& worker) = 0;
    //! Stops the sandbox, keeping its files.
    virtual void stop(const SessionWorker& worker) = 0;
    //! Removes the sandbox and its files. Only called once a sync proved they are stored.
    virtual void remove(const SessionWorker& worker) = 0;
    //! Whether a stopped sandbox still holds its files when it starts again. A runtime whose
    //! workers may start on another machine (a Swarm service) says no: every start then
    //! restores the whole workspace from storage.
    virtual bool keepsFilesWhileStopped() const { return true; }
};

//! What one workspace sync did.
struct SyncResult {
    bool succeeded = false;
    std::string error;  //!< why it failed; empty on success
    std::int64_t files = 0;
    std::int64_t bytes = 0;
};

//! Sync reasons, carried to the executor and the `workspace.sync` event.
inline constexpr std::string_view kSyncReasonIdleStop = "idle_stop";
inline constexpr std::string_view kSyncReasonMessageStop = "message.stop";

//! Asks a running worker's executor to upload its workspace and agent state to object
//! storage. A sync that fails returns `succeeded = false` with the error; a throwing
//! implementation is treated the same way.
class WorkspaceSyncer {
public:
    virtual ~WorkspaceSyncer() = default;
    virtual SyncResult syncWorkspace(const SessionWorker& worker, std::string_view reason) = 0;
};

//! The runs of a session that have not finished yet.
class RunActivity {
public:
    virtual ~RunActivity() = default;
    //! Statuses of the session's runs that are not terminal (queued, starting, running,
    //! waiting_human). Core decides with isActive(RunStatus) which of them hold the worker.
    virtual std::vector<RunStatus> unfinishedRunStatuses(const std::string& sessionId) = 0;
};

//! Time, so that tests decide what "now" is.
class Clock {
public:
    virtual ~Clock() = default;
    //! Unix milliseconds.
    virtual std::int64_t nowMs() = 0;
};

//! The wall clock.
class SystemClock final : public Clock {
public:
    std::int64_t nowMs() override;
};

}  // namespace aw
