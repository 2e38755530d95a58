#include "agent_executor/callback_deliverer.h"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include "agent_worker/core/random_id.h"
#include "executor/http_executor_client.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("callbacks"); }

}  // namespace

CallbackDeliverer::CallbackDeliverer(OutputSpool& spool, CallbackTarget target)
    : spool_(spool), target_(std::move(target)), thread_([this] { loop(); }) {}

CallbackDeliverer::~CallbackDeliverer() {
    stopping_ = true;
    spool_.wake();
    thread_.join();
}

bool CallbackDeliverer::post(const PendingBatch& batch) {
    const std::string body =
        CallbackBatch{target_.executorId, target_.sessionId, batch.runId, batch.records}
            .toJson()
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // The run's own trace (from its start), so the host's log joins its callbacks to it.
    const std::string traceId = batch.traceId.empty() ? newTraceId() : batch.traceId;
    try {
        const Poco::URI uri(target_.url);
        Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
        session.setTimeout(Poco::Timespan(10, 0));
        Poco::Net::HTTPRequest request("POST", uri.getPathEtc(), Poco::Net::HTTPMessage::HTTP_1_1);
        request.set("Authorization", "Bearer " + target_.token);
        setTraceHeaders(request, {traceId, target_.sessionId, target_.executorId, batch.runId},
                        "callbacks.output");
        request.setContentType("application/json");
        request.setContentLength64(static_cast<Poco::Int64>(body.size()));
        session.sendRequest(request) << body;
        Poco::Net::HTTPResponse response;
        std::string ignored;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), ignored);
        const int status = static_cast<int>(response.getStatus());
        if (status >= 200 && status < 300) return true;
        logFields(logger(), Poco::Message::PRIO_WARNING, "callback refused",
                  {{"status", status}, {"run_id", batch.runId}, {"trace_id", traceId},
                   {"records", batch.records.size()}});
    } catch (const std::exception& e) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "callback failed",
                  {{"error", e.what()}, {"run_id", batch.runId}, {"trace_id", traceId},
                   {"records", batch.records.size()}});
    }
    return false;
}

void CallbackDeliverer::loop() {
    int failures = 0;  // in a row: each one doubles the wait before the next attempt
    while (!stopping_) {
        if (!spool_.waitForPending(std::chrono::milliseconds(500))) continue;
        const auto batch = spool_.pending(kMaxBatchRecords);
        if (batch.empty()) continue;
        if (post(batch)) {
            spool_.acknowledge(batch.runId, batch.records.size());
            failures = 0;
            continue;
        }
        // The host is away or refusing: keep everything and try again later.
        const auto pause = kRetryBackoff.after(++failures);
        for (auto waited = std::chrono::milliseconds(0); waited < pause && !stopping_;
             waited += std::chrono::milliseconds(50)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
}

}  // namespace aw
