#include "executor/http_executor_client.h"

#include <Poco/Exception.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <chrono>
#include <random>
#include <thread>

#include "agent_worker/core/backoff.h"
#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/random_id.h"
#include "agent_worker/core/time_format.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("executor-client"); }

std::string escapeSegment(const std::string& value) {
    std::string out;
    Poco::URI::encode(value, "/?#%", out);
    return out;
}

}  // namespace

void setTraceHeaders(Poco::Net::HTTPRequest& request, const TraceContext& trace,
                     const std::string& operation) {
    request.set("X-Trace-Id", trace.traceId);
    request.set("X-Session-Id", trace.sessionId);
    request.set("X-Executor-Id", trace.executorId);
    if (!trace.runId.empty()) request.set("X-Run-Id", trace.runId);
    request.set("X-Operation", operation);
    request.set("X-Ts", isoUtcMillis(unixMillisNow()));
    request.set("traceparent", "00-" + trace.traceId + "-" + newSpanId() + "-01");
}

std::string newSpanId() { return randomHex(16); }

namespace {

bool isTraceId(std::string_view text) {
    return text.size() == 32 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos &&
           text.find_first_not_of('0') != std::string_view::npos;
}

}  // namespace

std::optional<std::string> readTraceId(std::string_view xTraceId, std::string_view traceparent) {
    if (isTraceId(xTraceId)) return std::string(xTraceId);
    // version "-" trace id "-" parent id "-" flags: 00-<32 hex>-<16 hex>-<2 hex>
    if (traceparent.size() >= 55 && traceparent[2] == '-' && traceparent[35] == '-' &&
        isTraceId(traceparent.substr(3, 32))) {
        return std::string(traceparent.substr(3, 32));
    }
    return std::nullopt;
}

struct HttpExecutorClient::Attempt {
    bool ok = false;
    CallFailureKind kind = CallFailureKind::Network;
    std::optional<int> status;
    std::string message;
    nlohmann::json body;
};

HttpExecutorClient::HttpExecutorClient(ExecutorEndpoint endpoint, HttpExecutorClientOptions options)
    : endpoint_(std::move(endpoint)), options_(std::move(options)) {
    if (!options_.sleep) {
        options_.sleep = [](std::chrono::milliseconds pause) { std::this_thread::sleep_for(pause); };
    }
}

HttpExecutorClient::Attempt HttpExecutorClient::attempt(const std::string& operation,
                                                        const std::string& method,
                                                        const std::string& path,
                                                        const std::string& body,
                                                        const TraceContext& trace,
                                                        std::chrono::milliseconds timeout) {
    Attempt result;
    const Poco::Timespan span(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
    try {
        std::unique_ptr<Poco::Net::HTTPClientSession> session;
        if (endpoint_.url.rfind("unix://", 0) == 0) {
            Poco::Net::StreamSocket socket;
            socket.connect(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL,
                                                    endpoint_.url.substr(7)),
                           span);
            session = std::make_unique<Poco::Net::HTTPClientSession>(socket);
        } else {
            const Poco::URI uri(endpoint_.url);
            session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
            session->setTimeout(span, span, span);
        }
        session->setTimeout(span);
        Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("Authorization", "Bearer " + endpoint_.token);
        setTraceHeaders(request, trace, operation);
        request.setContentType("application/json");
        request.setContentLength64(static_cast<Poco::Int64>(body.size()));
        session->sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        std::string text;
        Poco::StreamCopier::copyToString(session->receiveResponse(response), text);
        result.status = static_cast<int>(response.getStatus());
        result.body = nlohmann::json::parse(text, nullptr, false);
        if (*result.status >= 200 && *result.status < 300) {
            if (result.body.is_discarded()) {
                result.kind = CallFailureKind::Http;
                result.message = "answered " + std::to_string(*result.status) + " with a body that is not JSON";
                return result;
            }
            result.ok = true;
            return result;
        }
        result.kind = CallFailureKind::Http;
        const bool hasError = result.body.is_object() && result.body.contains("error") &&
                              result.body["error"].is_object();
        result.message = hasError ? result.body["error"].value("message", response.getReason())
                                  : response.getReason();
    } catch (const Poco::TimeoutException& e) {
        result.kind = CallFailureKind::Timeout;
        result.message = "no answer within " + std::to_string(timeout.count()) + " ms";
    } catch (const Poco::Exception& e) {
        result.kind = CallFailureKind::Network;
        result.message = e.displayText();
    } catch (const std::exception& e) {
        result.kind = CallFailureKind::Network;
        result.message = e.what();
    }
    return result;
}

nlohmann::json HttpExecutorClient::call(const std::string& operation, const std::string& method,
                                        const std::string& path, const nlohmann::json* body,
                                        const TraceContext& given) {
    TraceContext trace = given;
    if (trace.traceId.empty()) trace.traceId = newTraceId();
    // `workspace.sync.message.stop` times out like `workspace.sync`: the longest listed
    // operation name the call's name starts with decides.
    auto timeout = options_.defaultTimeout;
    std::size_t matched = 0;
    for (const auto& [name, limit] : options_.timeouts) {
        const bool prefix = operation.compare(0, name.size(), name) == 0 &&
                            (operation.size() == name.size() || operation[name.size()] == '.');
        if (prefix && name.size() > matched) {
            matched = name.size();
            timeout = limit;
        }
    }
    const std::string text = body ? body->dump() : "";
    for (int number = 1;; ++number) {
        const auto started = std::chrono::steady_clock::now();
        Attempt result = attempt(operation, method, path, text, trace, timeout);
        const double elapsedMs =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        nlohmann::json fields{{"operation", operation},
                              {"trace_id", trace.traceId},
                              {"session_id", trace.sessionId},
                              {"executor_id", trace.executorId},
                              {"run_id", trace.runId},
                              {"attempt", number},
                              {"duration_ms", elapsedMs}};
        if (result.ok) {
            logFields(logger(), Poco::Message::PRIO_DEBUG, "executor call", fields);
            return result.body;
        }
        fields["kind"] = toString(result.kind);
        if (result.status) fields["status"] = *result.status;
        fields["error"] = result.message;
        const bool retry = options_.retry.shouldRetry(result.kind, result.status, number);
        logFields(logger(), Poco::Message::PRIO_WARNING,
                  retry ? "executor call failed, retrying" : "executor call failed", fields);
        if (!retry) {
            throw ExecutorCallError({result.kind, result.status, result.message, number, operation});
        }
        options_.sleep(options_.retry.backoffAfter(number, unitRandom()));
    }
}

nlohmann::json HttpExecutorClient::health(const TraceContext& trace) {
    return call("health", "GET", "/health", nullptr, trace);
}
nlohmann::json HttpExecutorClient::restore(const TraceContext& trace, const nlohmann::json& plan) {
    return call("workspace.restore", "POST", "/workspace/restore", &plan, trace);
}
nlohmann::json HttpExecutorClient::link(const TraceContext& trace, const nlohmann::json& plan) {
    return call("workspace.link", "POST", "/workspace/link", &plan, trace);
}
nlohmann::json HttpExecutorClient::validate(const TraceContext& trace, const nlohmann::json& request) {
    return call("workspace.validate", "POST", "/workspace/validate", &request, trace);
}
nlohmann::json HttpExecutorClient::sync(const TraceContext& trace, const std::string& mode,
                                        const std::string& reason) {
    // A mode the protocol does not know goes out as given: the executor's 400 says why.
    const auto known = parseSyncMode(mode);
    const nlohmann::json body = known ? SyncRequest{*known, reason}.toJson()
                                      : nlohmann::json{{"mode", mode}, {"reason", reason}};
    // The reason is part of the operation name (`workspace.sync.message.stop`), so both
    // sides' logs tell a sync after a message from an idle-stop sync.
    const auto started = std::chrono::steady_clock::now();
    const auto took = [&] { return std::chrono::steady_clock::now() - started; };
    try {
        auto answer = call(reason.empty() ? "workspace.sync" : "workspace.sync." + reason, "POST",
                           "/workspace/sync", &body, trace);
        if (options_.onSyncEnded) options_.onSyncEnded(reason, took(), &answer);
        return answer;
    } catch (...) {
        if (options_.onSyncEnded) options_.onSyncEnded(reason, took(), nullptr);
        throw;
    }
}
nlohmann::json HttpExecutorClient::startRun(const TraceContext& trace, const nlohmann::json& spec) {
    return call("runs.start", "POST", "/runs", &spec, trace);
}
nlohmann::json HttpExecutorClient::writeStdin(const TraceContext& trace, const std::string& runId,
                                              const std::string& bytes, bool close) {
    const nlohmann::json body = StdinWrite{bytes, close}.toJson();
    return call("runs.stdin", "POST", "/runs/" + escapeSegment(runId) + "/stdin", &body, trace);
}
nlohmann::json HttpExecutorClient::signalRun(const TraceContext& trace, const std::string& runId,
                                             const std::string& signal) {
    // A signal the protocol does not know goes out as given: the executor's 400 says why.
    const auto known = parseRunSignal(signal);
    const nlohmann::json body =
        known ? SignalRequest{*known}.toJson() : nlohmann::json{{"signal", signal}};
    return call("runs.signal", "POST", "/runs/" + escapeSegment(runId) + "/signal", &body, trace);
}
nlohmann::json HttpExecutorClient::runStatus(const TraceContext& trace, const std::string& runId) {
    return call("runs.status", "GET", "/runs/" + escapeSegment(runId), nullptr, trace);
}

}  // namespace aw
