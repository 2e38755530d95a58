// The one error shape users meet: a stable code, a message saying what was wrong, a hint
// saying what to do. Adapters map it to HTTP statuses or exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace aw {

//! What went wrong, in words an operator can act on.
struct Problem {
    std::string code;     //!< stable, machine-readable (`not_found`, `invalid_json`, ...)
    std::string message;  //!< what was wrong
    std::string hint;     //!< what to do about it (may be empty)
};

//! Thrown where an operation cannot go on; carries the Problem to report.
class ProblemError : public std::runtime_error {
public:
    explicit ProblemError(Problem problem)
        : std::runtime_error(problem.message), problem_(std::move(problem)) {}
    const Problem& problem() const noexcept { return problem_; }

private:
    Problem problem_;
};

}  // namespace aw
