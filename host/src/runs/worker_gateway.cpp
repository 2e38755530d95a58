#include "runs/worker_gateway.h"

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/random_id.h"
#include "runtime/executor_runtime.h"

namespace aw {

std::unique_ptr<ExecutorClient> RuntimeWorkerGateway::executor(const SessionWorker& worker) {
    return std::make_unique<HttpExecutorClient>(runtime_.endpoint(worker), options_);
}

std::string RuntimeWorkerGateway::executorId(const SessionWorker& worker) {
    return runtime_.executorId(worker);
}

RestoreRoots RuntimeWorkerGateway::roots(const SessionWorker& worker) {
    return runtime_.roots(worker);
}

bool RuntimeWorkerGateway::executorAlive(const SessionWorker& worker) {
    return runtime_.executorRunning(worker);
}

SyncResult ExecutorWorkspaceSyncer::syncWorkspace(const SessionWorker& worker,
                                                  std::string_view reason) {
    SyncResult result;
    try {
        const auto answer = SyncAnswer::fromJson(gateway_.executor(worker)->sync(
            {newTraceId(), worker.sessionId, gateway_.executorId(worker), ""}, "incremental",
            std::string(reason)));
        result.succeeded = true;
        result.files = answer.total.uploadedFiles;
        result.bytes = answer.total.uploadedBytes;
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    return result;
}

}  // namespace aw
