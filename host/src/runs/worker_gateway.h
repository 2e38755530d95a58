// How the run engine reaches a session worker: its executor (client, identity, liveness)
// and the roots its restore plans are made for. One implementation per worker runtime.
#pragma once

#include <memory>
#include <string>

#include "agent_worker/core/executor_client.h"
#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/restore_paths.h"
#include "agent_worker/core/session_worker.h"
#include "executor/http_executor_client.h"

namespace aw {

class LocalWorkerRuntime;

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

//! Workers of the `local` runtime: executors on unix sockets under the data dir.
class LocalWorkerGateway : public WorkerGateway {
public:
    LocalWorkerGateway(LocalWorkerRuntime& runtime, HttpExecutorClientOptions options)
        : runtime_(runtime), options_(std::move(options)) {}

    std::unique_ptr<ExecutorClient> executor(const SessionWorker& worker) override;
    std::string executorId(const SessionWorker& worker) override;
    RestoreRoots roots(const SessionWorker& worker) override;
    bool executorAlive(const SessionWorker& worker) override;

private:
    LocalWorkerRuntime& runtime_;
    HttpExecutorClientOptions options_;
};

//! The lifecycle's workspace sync (idle stop): an incremental sync through the executor.
class ExecutorWorkspaceSyncer : public WorkspaceSyncer {
public:
    explicit ExecutorWorkspaceSyncer(WorkerGateway& gateway) : gateway_(gateway) {}
    SyncResult syncWorkspace(const SessionWorker& worker, std::string_view reason) override;

private:
    WorkerGateway& gateway_;
};

}  // namespace aw
