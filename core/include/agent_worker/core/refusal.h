// Why a request was refused, as a kind the API layer maps to an HTTP status (and only the
// API layer: the run path never speaks HTTP). The Problem says what and what to do.
#pragma once

#include <string_view>

#include "agent_worker/core/problem.h"

namespace aw {

enum class RefusalKind {
    InvalidInput,       //!< the request itself is malformed (400)
    NotFound,           //!< what it names does not exist (404)
    Conflict,           //!< the state does not allow it now (409)
    Unprocessable,      //!< the provider cannot do it, or rejected the input (422)
    Unavailable,        //!< a part it needs cannot serve right now; retry later (503)
};

std::string_view toString(RefusalKind kind);

//! Thrown by the run path's entry points (submission, stop, human reply).
class Refused : public ProblemError {
public:
    Refused(RefusalKind kind, Problem problem) : ProblemError(std::move(problem)), kind_(kind) {}
    RefusalKind kind() const noexcept { return kind_; }

private:
    RefusalKind kind_;
};

}  // namespace aw
