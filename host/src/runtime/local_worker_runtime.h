// The `local` worker runtime (the embedded default): each session worker is a directory
// under the data dir (workspace, home, tmp, executor state) and an agent-executor process
// serving a unix socket, run in a sandbox of its own (runtime/worker_sandbox.h) under a uid of
// its own, which owns the worker's directories (0700) and nothing else.
//
// Each worker has two tokens, issued at create and revoked at remove, kept 0600 in a
// directory the sandboxes never show (<data dir>/workers-private/<session>/): the one the
// host presents to the executor, and the callback token that tells the host whose callbacks
// it reads. The executor gets them on stdin, never in its environment or on its command line;
// its environment is clean (PATH, locale, shell, HOME and TMPDIR in the worker: nothing of
// agent-host's). It exits when agent-host does. A dead executor shows as Stopped, so the
// lifecycle never believes a worker runs when it does not; starting it again starts a new
// executor on the same tokens and spool, which delivers what was left.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "executor/http_executor_client.h"
#include "process/subprocess.h"
#include "runtime/executor_runtime.h"
#include "runtime/worker_sandbox.h"
#include "runtime/worker_tokens.h"
#include "storage/s3_transport.h"

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
    LocalSandboxOptions sandbox{};
    //! Set: the executors use this s3 store instead of the file store at objectsDir (its
    //! bucket is each session's; the credentials reach them on stdin like their tokens).
    std::optional<S3Settings> s3{};
};

class LocalWorkerRuntime : public ExecutorRuntime {
public:
    //! Throws ProblemError `runtime_unavailable` when workers cannot be sandboxed here and
    //! `sandbox.unsandboxed` is not set.
    explicit LocalWorkerRuntime(LocalRuntimeOptions options);
    ~LocalWorkerRuntime() override;

    SandboxState inspect(const SessionWorker& worker) override;
    void create(const SessionWorker& worker) override;
    void start(const SessionWorker& worker) override;
    void stop(const SessionWorker& worker) override;
    void remove(const SessionWorker& worker) override;

    CallbackTokens& callbackTokens() override { return tokens_->callbackTokens(); }
    //! The executor's unix socket in the worker's directory.
    ExecutorEndpoint endpoint(const SessionWorker& worker) const override;
    //! `local-<session>`.
    std::string executorId(const SessionWorker& worker) const override {
        return "local-" + worker.sessionId;
    }
    //! The sandbox shows the worker's directories at their own paths.
    RestoreRoots roots(const SessionWorker& worker) const override;
    bool executorRunning(const SessionWorker& worker) override {
        return executorPid(worker).has_value();
    }
    //! False when workers are unsandboxed (they share agent-host's uid).
    bool isWorkerUid(uid_t uid) const override {
        return sandbox_.enabled() && sandbox_.isWorkerUid(uid);
    }
    //! The worker's executor process (outside its sandbox), while it runs.
    std::optional<pid_t> executorPid(const SessionWorker& worker) const;
    //! The worker's directories (absolute).
    std::filesystem::path workerDir(const SessionWorker& worker) const;
    //! The worker's files only the host sees: its tokens, its sandbox's /etc/passwd.
    std::filesystem::path privateDir(const SessionWorker& worker) const;

private:
    //! The worker's uid (its directory's owner), given from the range when it has none.
    uid_t workerUid(const SessionWorker& worker);
    //! The worker's objects (<objects>/<bucket>/<key prefix>).
    std::filesystem::path objectsPrefixDir(const SessionWorker& worker) const;

    LocalRuntimeOptions options_;
    WorkerSandbox sandbox_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Subprocess>> executors_;
    std::optional<WorkerTokens> tokens_;  //!< made once the workers' directory is known
};

}  // namespace aw
