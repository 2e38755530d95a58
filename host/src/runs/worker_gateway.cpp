#include "runs/worker_gateway.h"

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/random_id.h"
#include "runtime/local_worker_runtime.h"

namespace aw {

std::unique_ptr<ExecutorClient> LocalWorkerGateway::executor(const SessionWorker& worker) {
    return std::make_unique<HttpExecutorClient>(runtime_.endpoint(worker), options_);
}

std::string LocalWorkerGateway::executorId(const SessionWorker& worker) {
    return "local-" + worker.sessionId;
}

RestoreRoots LocalWorkerGateway::roots(const SessionWorker& worker) {
    const auto dir = runtime_.workerDir(worker);
    return {(dir / "workspace").string(), (dir / "home").string()};
}

bool LocalWorkerGateway::executorAlive(const SessionWorker& worker) {
    return runtime_.executorPid(worker).has_value();
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
