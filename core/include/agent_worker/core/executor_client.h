// The port through which the host talks to a session worker's agent-executor: workspace
// restore/link/validate/sync and the agent process. host/ implements it over HTTP.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "agent_worker/core/retry_policy.h"

namespace aw {

//! Who and what a call is about; sent as trace headers (X-Trace-Id, X-Session-Id,
//! X-Executor-Id, X-Run-Id, W3C traceparent) and logged on both sides.
struct TraceContext {
    std::string traceId;  //!< 32 lower-case hex digits; generated when empty
    std::string sessionId;
    std::string executorId;
    std::string runId;  //!< empty outside a run
};

//! Each call returns the executor's JSON answer or throws ExecutorCallError (the one error
//! structure, after the retry policy has had its say).
class ExecutorClient {
public:
    virtual ~ExecutorClient() = default;
    virtual nlohmann::json health(const TraceContext& trace) = 0;
    virtual nlohmann::json restore(const TraceContext& trace, const nlohmann::json& plan) = 0;
    virtual nlohmann::json link(const TraceContext& trace, const nlohmann::json& plan) = 0;
    virtual nlohmann::json validate(const TraceContext& trace, const nlohmann::json& request) = 0;
    //! `mode`: "full" or "incremental".
    virtual nlohmann::json sync(const TraceContext& trace, const std::string& mode,
                                const std::string& reason) = 0;
    //! Starts a process; the executor treats a repeated run id as the same run, so a
    //! retried start never starts it twice.
    virtual nlohmann::json startRun(const TraceContext& trace, const nlohmann::json& spec) = 0;
    virtual nlohmann::json writeStdin(const TraceContext& trace, const std::string& runId,
                                      const std::string& bytes, bool close) = 0;
    virtual nlohmann::json signalRun(const TraceContext& trace, const std::string& runId,
                                     const std::string& signal) = 0;
    virtual nlohmann::json runStatus(const TraceContext& trace, const std::string& runId) = 0;
};

}  // namespace aw
