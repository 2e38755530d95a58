// The `local` worker runtime (the embedded default): each session worker is a directory
// under the data dir (workspace, home, tmp, executor state) and an agent-executor process
// serving a unix socket with a token of its own. Each worker also has a callback token of
// its own (issued at create, revoked at remove), which tells the host whose callbacks it
// reads. The executor gets a clean environment (PATH, locale, user and shell, HOME and
// TMPDIR in the worker, its two tokens: nothing of agent-host's) and exits when agent-host does
// (--exit-with-parent). A dead executor shows as Stopped, so the lifecycle never believes a worker
// runs when it does not; starting it again starts a new executor on the same token and spool, which
// delivers what was left.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent_worker/core/lifecycle_ports.h"
#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "runtime/callback_tokens.h"

namespace aw {

struct LocalRuntimeOptions {
    std::filesystem::path workersDir;  //!< <data dir>/workers
    std::filesystem::path objectsDir;  //!< the file object store root
    std::string executorBinary;        //!< path of agent-executor
    std::string callbackUrl;           //!< the host's POST /v1/callbacks/executor
    //! The host's `http.max_body_bytes`, so executors size callbacks under it (0: their
    //! default, 1 MiB).
    std::size_t callbackMaxBodyBytes = 0;
    std::chrono::milliseconds startTimeout{10000};
    std::chrono::milliseconds stopGrace{5000};  //!< SIGTERM, then SIGKILL
};

class LocalWorkerRuntime : public WorkerRuntime {
public:
    explicit LocalWorkerRuntime(LocalRuntimeOptions options);
    ~LocalWorkerRuntime() override;

    SandboxState inspect(const SessionWorker& worker) override;
    void create(const SessionWorker& worker) override;
    void start(const SessionWorker& worker) override;
    void stop(const SessionWorker& worker) override;
    void remove(const SessionWorker& worker) override;

    //! The workers' callback tokens: who posted a callback.
    const CallbackTokens& callbackTokens() const { return callbackTokens_; }
    //! The executor id of the worker's executor (`local-<session>`).
    static std::string executorId(const SessionWorker& worker) {
        return "local-" + worker.sessionId;
    }
    //! Where and how to call the worker's executor.
    ExecutorEndpoint endpoint(const SessionWorker& worker) const;
    //! The worker's executor process, while it runs.
    std::optional<pid_t> executorPid(const SessionWorker& worker) const;
    //! The worker's directories (absolute).
    std::filesystem::path workerDir(const SessionWorker& worker) const;

private:
    std::string readToken(const SessionWorker& worker) const;
    //! The worker's callback token (state/callback-token), made when missing; bound.
    std::string callbackToken(const SessionWorker& worker);

    LocalRuntimeOptions options_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Subprocess>> executors_;
    CallbackTokens callbackTokens_;
};

}  // namespace aw
