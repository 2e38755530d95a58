// ExecutorClient over HTTP (Poco), to a unix socket or a loopback TCP port: bearer token,
// trace headers, a timeout per operation, and the retry policy. Request bodies are the
// executor protocol's documents (executor_protocol.h); answers are returned as sent, for
// the caller to read with the matching fromJson().
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "agent_worker/core/executor_client.h"
#include "agent_worker/core/random_id.h"
#include "executor/http_executor_client_options.h"

namespace Poco::Net {
class HTTPRequest;
}

namespace aw {

struct ExecutorEndpoint {
    //! `unix:///path/to/executor.sock` or `http://127.0.0.1:PORT`.
    std::string url;
    std::string token;
};

class HttpExecutorClient : public ExecutorClient {
public:
    HttpExecutorClient(ExecutorEndpoint endpoint, HttpExecutorClientOptions options);

    nlohmann::json health(const TraceContext& trace) override;
    nlohmann::json restore(const TraceContext& trace, const nlohmann::json& plan) override;
    nlohmann::json link(const TraceContext& trace, const nlohmann::json& plan) override;
    nlohmann::json validate(const TraceContext& trace, const nlohmann::json& request) override;
    nlohmann::json sync(const TraceContext& trace, const std::string& mode,
                        const std::string& reason) override;
    nlohmann::json startRun(const TraceContext& trace, const nlohmann::json& spec) override;
    nlohmann::json writeStdin(const TraceContext& trace, const std::string& runId,
                              const std::string& bytes, bool close) override;
    nlohmann::json signalRun(const TraceContext& trace, const std::string& runId,
                             const std::string& signal) override;
    nlohmann::json runStatus(const TraceContext& trace, const std::string& runId) override;

private:
    struct Attempt;
    //! One operation with retries; returns the JSON body of a 2xx answer.
    nlohmann::json call(const std::string& operation, const std::string& method,
                        const std::string& path, const nlohmann::json* body,
                        const TraceContext& trace);
    Attempt attempt(const std::string& operation, const std::string& method,
                    const std::string& path, const std::string& body, const TraceContext& trace,
                    std::chrono::milliseconds timeout);

    ExecutorEndpoint endpoint_;
    HttpExecutorClientOptions options_;
};

//! Sets the trace headers of one host <-> executor call (either direction): X-Trace-Id,
//! X-Session-Id, X-Executor-Id, X-Run-Id (when in a run), X-Operation, X-Ts and a W3C
//! traceparent with a fresh span id. `trace.traceId` must be set.
void setTraceHeaders(Poco::Net::HTTPRequest& request, const TraceContext& trace,
                     const std::string& operation);

//! A fresh W3C span id (16 hex); trace ids come from agent_worker/core/random_id.h.
std::string newSpanId();

//! The trace id a call came with, as setTraceHeaders() sends it: `X-Trace-Id` when it is a
//! valid W3C trace id (32 lower-case hex digits, not all zero), else the trace id inside a
//! valid `traceparent`; nullopt when neither is.
std::optional<std::string> readTraceId(std::string_view xTraceId, std::string_view traceparent);

}  // namespace aw
