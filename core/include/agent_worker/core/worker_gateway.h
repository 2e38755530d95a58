// The port through which the run path reaches a session worker: its executor (client,
// identity, liveness) and the roots its restore plans are made for. One implementation
// per worker runtime (host/src/runs/worker_gateway.h for `local`).
#pragma once

#include <memory>
#include <string>

#include "agent_worker/core/executor_client.h"
#include "agent_worker/core/restore_paths.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

class WorkerGateway {
public:
    virtual ~WorkerGateway() = default;
    virtual std::unique_ptr<ExecutorClient> executor(const SessionWorker& worker) = 0;
    virtual std::string executorId(const SessionWorker& worker) = 0;
    //! The workspace and home directories as the executor (and the agent CLI) see them.
    virtual RestoreRoots roots(const SessionWorker& worker) = 0;
    //! False once the worker's executor is gone (crashed, killed, stopped).
    virtual bool executorAlive(const SessionWorker& worker) = 0;
};

}  // namespace aw
