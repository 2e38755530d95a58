// A worker runtime whose sandboxes each run an agent-executor: what agent-host needs of it
// beyond the lifecycle's port (WorkerRuntime). Where each worker's executor answers and with
// which token, whose callbacks are whose, and the worker's paths as its executor sees them.
// `local` (a process tree per worker) and `docker` (a container per worker) implement it.
#pragma once

#include <sys/types.h>

#include <string>

#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/restore_paths.h"
#include "executor/http_executor_client.h"
#include "runtime/callback_tokens.h"

namespace aw {

class ExecutorRuntime : public WorkerRuntime {
public:
    //! The workers' callback tokens: who posted a callback.
    virtual CallbackTokens& callbackTokens() = 0;
    //! Where and how to call the worker's executor (a unix socket or loopback, its token).
    virtual ExecutorEndpoint endpoint(const SessionWorker& worker) const = 0;
    //! The id the worker's executor reports and posts callbacks as.
    virtual std::string executorId(const SessionWorker& worker) const = 0;
    //! The worker's workspace and home as its executor and CLI see them.
    virtual RestoreRoots roots(const SessionWorker& worker) const = 0;
    //! Whether the worker's executor runs right now.
    virtual bool executorRunning(const SessionWorker& worker) = 0;
    //! True when `uid` is a sandboxed agent's on this machine (its loopback calls are refused).
    virtual bool isWorkerUid(uid_t uid) const = 0;
};

}  // namespace aw
