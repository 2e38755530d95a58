// The failure of one attempt at a run. Retryable ones go back to the queue (nothing the
// agent did could be repeated: the CLI had not started); the others fail the run.
#pragma once

#include "agent_worker/core/problem.h"

namespace aw {

class RunAttemptFailure : public ProblemError {
public:
    RunAttemptFailure(Problem problem, bool retryable)
        : ProblemError(std::move(problem)), retryable_(retryable) {}
    bool retryable() const noexcept { return retryable_; }

private:
    bool retryable_;
};

}  // namespace aw
