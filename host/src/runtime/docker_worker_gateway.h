// The `docker` runtime's side of the WorkerGateway port: each worker's executor on the unix
// socket in its bind directory, the roots as its container shows them, and liveness as the
// engine reports the container.
#pragma once

#include <memory>
#include <string>

#include "agent_worker/core/worker_gateway.h"
#include "executor/http_executor_client.h"
#include "runtime/docker_worker_runtime.h"

namespace aw {

class DockerWorkerGateway : public WorkerGateway {
public:
    DockerWorkerGateway(DockerWorkerRuntime& runtime, HttpExecutorClientOptions options)
        : runtime_(runtime), options_(std::move(options)) {}

    std::unique_ptr<ExecutorClient> executor(const SessionWorker& worker) override {
        return std::make_unique<HttpExecutorClient>(runtime_.endpoint(worker), options_);
    }
    std::string executorId(const SessionWorker& worker) override {
        return DockerWorkerRuntime::executorId(worker);
    }
    RestoreRoots roots(const SessionWorker&) override { return DockerWorkerRuntime::roots(); }
    //! The container runs: its executor is PID 1's only child, so it ends with it. An engine
    //! that does not answer says nothing about the executor: not taken for its death.
    bool executorAlive(const SessionWorker& worker) override {
        try {
            return runtime_.inspect(worker) == SandboxState::Running;
        } catch (const ProblemError&) {
            return true;
        }
    }

private:
    DockerWorkerRuntime& runtime_;
    HttpExecutorClientOptions options_;
};

}  // namespace aw
