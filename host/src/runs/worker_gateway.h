// The WorkerGateway port over a worker runtime whose sandboxes run agent-executor (local
// processes or Docker containers), and the lifecycle's workspace syncer, which goes through
// the same port.
#pragma once

#include <memory>
#include <string>

#include "agent_worker/core/worker_gateway.h"
#include "agent_worker/core/lifecycle_ports.h"
#include "agent_worker/core/restore_paths.h"
#include "agent_worker/core/session_worker.h"
#include "executor/http_executor_client.h"

namespace aw {

class ExecutorRuntime;

//! Each worker's executor, called over HTTP where its runtime says it answers.
class RuntimeWorkerGateway : public WorkerGateway {
public:
    RuntimeWorkerGateway(ExecutorRuntime& runtime, HttpExecutorClientOptions options)
        : runtime_(runtime), options_(std::move(options)) {}

    std::unique_ptr<ExecutorClient> executor(const SessionWorker& worker) override;
    std::string executorId(const SessionWorker& worker) override;
    RestoreRoots roots(const SessionWorker& worker) override;
    bool executorAlive(const SessionWorker& worker) override;

private:
    ExecutorRuntime& runtime_;
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
