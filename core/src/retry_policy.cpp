#include "agent_worker/core/retry_policy.h"

#include <algorithm>

#include "agent_worker/core/backoff.h"

namespace aw {
namespace {

Problem problemOf(const ExecutorCallFailure& failure) {
    std::string message = failure.operation + " failed after " + std::to_string(failure.attempts) +
                          (failure.attempts == 1 ? " attempt" : " attempts") + " (" +
                          toString(failure.kind) +
                          (failure.status ? " " + std::to_string(*failure.status) : "") + "): " +
                          failure.message;
    std::string hint;
    switch (failure.kind) {
        case CallFailureKind::Http:
            hint = failure.status && *failure.status < 500
                       ? "the executor refused the request; it was not retried"
                       : "the executor kept failing; see its log for the trace id";
            break;
        case CallFailureKind::Timeout:
            hint = "the executor did not answer in time; is the worker overloaded?";
            break;
        case CallFailureKind::Network:
            hint = "the executor is not reachable; is the worker running?";
            break;
    }
    return Problem{"executor_" + toString(failure.kind), std::move(message), std::move(hint)};
}

}  // namespace

std::string toString(CallFailureKind kind) {
    switch (kind) {
        case CallFailureKind::Http: return "http";
        case CallFailureKind::Timeout: return "timeout";
        case CallFailureKind::Network: return "network";
    }
    return "network";
}

ExecutorCallError::ExecutorCallError(ExecutorCallFailure failure)
    : ProblemError(problemOf(failure)), failure_(std::move(failure)) {}

bool RetryPolicy::shouldRetry(CallFailureKind kind, std::optional<int> status, int attempt) const {
    if (attempt >= maxAttempts) return false;
    if (kind != CallFailureKind::Http) return true;
    if (!status || *status < 500) return false;
    return std::find(retryStatuses.begin(), retryStatuses.end(), *status) != retryStatuses.end();
}

std::chrono::milliseconds RetryPolicy::backoffAfter(int attempt, double unitRandom) const {
    return Backoff{initialBackoff, maxBackoff, kBackoffJitter}.after(attempt, unitRandom);
}

std::optional<Problem> RetryPolicy::check() const {
    if (maxAttempts < 1) {
        return Problem{"config_invalid", "executor retry attempts must be at least 1",
                       "set AW_EXECUTOR_RETRY_ATTEMPTS to 1 or more"};
    }
    for (int status : retryStatuses) {
        if (status < 500 || status > 599) {
            return Problem{"config_invalid",
                           "executor retry status " + std::to_string(status) + " is not a 5xx",
                           "only server errors are retried; 4xx answers are final"};
        }
    }
    if (initialBackoff.count() < 0 || maxBackoff < initialBackoff) {
        return Problem{"config_invalid", "executor retry backoff is negative or above its maximum",
                       "check AW_EXECUTOR_RETRY_BACKOFF_MS and AW_EXECUTOR_RETRY_MAX_BACKOFF_MS"};
    }
    return std::nullopt;
}

}  // namespace aw
