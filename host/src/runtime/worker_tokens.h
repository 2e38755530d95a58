// Each worker's two tokens, for every worker runtime: the one the host presents to the
// worker's executor, and the callback token that tells the host whose callbacks it reads.
// They are kept 0600 in a directory no sandbox shows (<data dir>/workers-private/<session>/),
// issued at create and revoked at remove; a restarted host binds the callback tokens of the
// workers it finds, whose executors still deliver with them.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "agent_worker/core/session_worker.h"
#include "runtime/callback_tokens.h"

namespace aw {

class WorkerTokens {
public:
    //! How a runtime names a worker's executor (`local-<session>`, `docker-<session>`).
    using ExecutorIdOf = std::function<std::string(const SessionWorker&)>;

    //! Makes <data dir>/workers-private (0700) beside `workersDir`, and binds the callback
    //! tokens of the workers already under `workersDir`.
    WorkerTokens(const std::filesystem::path& workersDir, ExecutorIdOf executorId);

    //! The worker's private directory; throws ProblemError for a session id that is no
    //! identifier.
    std::filesystem::path privateDir(const SessionWorker& worker) const;
    //! Makes the worker's private directory (0700) and both its tokens where missing; binds
    //! the callback token.
    void issue(const SessionWorker& worker);
    //! The token the host presents to the worker's executor (empty when not issued).
    std::string executorToken(const SessionWorker& worker) const;
    //! The worker's callback token, made when missing; bound.
    std::string callbackToken(const SessionWorker& worker);
    //! The callback token is no longer accepted, and the private directory is gone.
    void revoke(const SessionWorker& worker);

    CallbackTokens& callbackTokens() { return callbackTokens_; }

private:
    std::filesystem::path root_;
    ExecutorIdOf executorId_;
    CallbackTokens callbackTokens_;
};

}  // namespace aw
