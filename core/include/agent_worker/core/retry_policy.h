// When a failed call to a worker's executor is worth another attempt, and how long to wait:
// the one retry policy of the executor client (seed phase 8).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/problem.h"

namespace aw {

//! How a call to an executor failed.
enum class CallFailureKind {
    Http,     //!< the executor answered with an error status
    Timeout,  //!< no (complete) answer in time
    Network,  //!< could not connect, or the connection broke
};

std::string toString(CallFailureKind kind);

//! The one error structure of executor calls:
//! {kind: http|timeout|network, status?, message, attempts, operation}.
struct ExecutorCallFailure {
    CallFailureKind kind = CallFailureKind::Network;
    std::optional<int> status;  //!< HTTP status, for kind Http
    std::string message;
    int attempts = 0;
    std::string operation;  //!< e.g. `workspace.sync`
};

//! Thrown by executor clients once retries are exhausted or not allowed.
class ExecutorCallError : public ProblemError {
public:
    explicit ExecutorCallError(ExecutorCallFailure failure);
    const ExecutorCallFailure& failure() const noexcept { return failure_; }

private:
    ExecutorCallFailure failure_;
};

struct RetryPolicy {
    int maxAttempts = 3;  //!< including the first
    std::chrono::milliseconds initialBackoff{200};
    std::chrono::milliseconds maxBackoff{5000};
    std::vector<int> retryStatuses{500, 502, 503, 504};  //!< only 5xx are ever accepted

    //! Retry after `failure` on attempt `attempt` (1-based)? Timeouts and network errors:
    //! yes; HTTP: only the listed 5xx statuses, never a 4xx; never past maxAttempts.
    bool shouldRetry(CallFailureKind kind, std::optional<int> status, int attempt) const;

    //! Jitter of the waits between attempts: each is scaled by a factor in [0.8, 1.2].
    static constexpr double kBackoffJitter = 0.2;

    //! Wait before attempt `attempt + 1`: the project's one Backoff (backoff.h) with these
    //! bounds — initial * 2^(attempt-1), capped at maxBackoff, then scaled by
    //! 1 + kBackoffJitter * (2 * unitRandom - 1), so replicas do not retry in lockstep.
    //! `unitRandom` in [0, 1]; 0.5 means no jitter.
    std::chrono::milliseconds backoffAfter(int attempt, double unitRandom) const;

    //! Empty when sane; otherwise what is wrong (attempts < 1, a non-5xx status...).
    std::optional<Problem> check() const;
};

}  // namespace aw
