// Ports to persistence. host/ implements them with SOCI; core and its tests see only these.
#pragma once

#include <optional>
#include <string>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

//! The store cannot be reached right now (server down, connection lost). Callers answer
//! "try again later" (HTTP 503) rather than "internal error".
class StoreUnavailableError : public ProblemError {
public:
    using ProblemError::ProblemError;
};

//! Reads and writes session worker records.
class SessionWorkerRepository {
public:
    virtual ~SessionWorkerRepository() = default;
    virtual std::optional<SessionWorker> find(const std::string& sessionId) = 0;
};

//! Answers whether the store can serve requests right now (for /ready).
class StoreHealth {
public:
    virtual ~StoreHealth() = default;
    //! Empty when healthy; otherwise why not, in words an operator can act on.
    virtual std::optional<std::string> unhealthyReason() = 0;
};

}  // namespace aw
