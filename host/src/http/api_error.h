// A Problem with the HTTP status it is answered with. Handlers throw it; the router
// turns it into {"error":{"code","message","hint"}}.
#pragma once

#include "agent_worker/core/problem.h"

namespace aw {

class ApiError : public ProblemError {
public:
    ApiError(int status, Problem problem) : ProblemError(std::move(problem)), status_(status) {}
    int status() const noexcept { return status_; }

private:
    int status_;
};

}  // namespace aw
