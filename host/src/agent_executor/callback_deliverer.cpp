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

std::string dump(const nlohmann::json& json) {
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

//! What the host said about a refusal, from its error shape: `code: message`.
std::string errorDetail(const std::string& body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (!json.is_object() || !json.contains("error") || !json["error"].is_object()) return "";
    const auto& error = json["error"];
    std::string detail =
        error.value("code", nlohmann::json()).is_string() ? error["code"].get<std::string>() : "";
    if (error.contains("message") && error["message"].is_string()) {
        detail += (detail.empty() ? "" : ": ") + error["message"].get<std::string>();
    }
    return detail.substr(0, 300);
}

}  // namespace

CallbackDeliverer::CallbackDeliverer(OutputSpool& spool, CallbackTarget target,
                                     std::atomic<std::size_t>& bodyBytes)
    : spool_(spool),
      target_(std::move(target)),
      bodyBytes_(bodyBytes),
      thread_([this] { loop(); }) {}

CallbackDeliverer::~CallbackDeliverer() {
    stopping_ = true;
    spool_.wake();
    thread_.join();
}

std::string CallbackDeliverer::fit(PendingBatch& batch) const {
    // The records are spliced into the envelope's empty `events` array, the first key.
    std::string body =
        dump(CallbackBatch{target_.executorId, target_.sessionId, batch.runId, {}}.toJson());
    const std::string emptyEvents = "\"events\":[]";
    const std::size_t at = body.find(emptyEvents) + emptyEvents.size() - 1;
    const std::size_t limit = bodyBytes_.load();
    std::string events;
    std::size_t taken = 0;
    for (const auto& record : batch.records) {
        std::string json = dump(record.toJson());
        const std::size_t grown = body.size() + events.size() + json.size() + (taken > 0 ? 1 : 0);
        if (taken > 0 && grown > limit) break;
        if (taken > 0) events += ',';
        events += json;
        ++taken;
    }
    batch.records.resize(taken);
    body.insert(at, events);
    return body;
}

CallbackDeliverer::Answer CallbackDeliverer::post(const PendingBatch& batch,
                                                  const std::string& body) {
    // The run's own trace (from its start), so the host's log joins its callbacks to it.
    const std::string traceId = batch.traceId.empty() ? newTraceId() : batch.traceId;
    Answer answer;
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
        std::string text;
        Poco::StreamCopier::copyToString(session.receiveResponse(response), text);
        answer.status = static_cast<int>(response.getStatus());
        if (answer.status >= 200 && answer.status < 300) return answer;
        answer.detail = errorDetail(text);
        logFields(logger(), Poco::Message::PRIO_WARNING, "callback refused",
                  {{"status", answer.status},
                   {"error", answer.detail},
                   {"run_id", batch.runId},
                   {"trace_id", traceId},
                   {"records", batch.records.size()},
                   {"bytes", body.size()}});
    } catch (const std::exception& e) {
        answer.detail = e.what();
        logFields(logger(), Poco::Message::PRIO_WARNING, "callback failed",
                  {{"error", e.what()}, {"run_id", batch.runId}, {"trace_id", traceId},
                   {"records", batch.records.size()}});
    }
    return answer;
}

void CallbackDeliverer::loop() {
    int failures = 0;  // in a row: each one doubles the wait before the next attempt
    while (!stopping_) {
        if (!spool_.waitForPending(std::chrono::milliseconds(500))) continue;
        auto batch = spool_.pending(maxRecords_);
        if (batch.empty()) continue;
        const std::string body = fit(batch);
        const Answer answer = post(batch, body);
        switch (classifyCallbackAnswer(answer.status)) {
            case CallbackOutcome::Delivered:
                spool_.acknowledge(batch.runId, batch.records.size());
                failures = 0;
                maxRecords_ = kMaxBatchRecords;
                continue;
            case CallbackOutcome::TooLarge:
                if (batch.records.size() > 1) {
                    // The host's limit is lower than we were told: learn it, in halves.
                    bodyBytes_ = std::max(CallbackBodyLimit::kMinimumBytes, body.size() / 2);
                    maxRecords_ = batch.records.size() / 2;
                    logFields(logger(), Poco::Message::PRIO_WARNING, "callback body limit lowered",
                              {{"run_id", batch.runId}, {"body_bytes", bodyBytes_.load()}});
                    continue;
                }
                [[fallthrough]];  // one record the host will never take
            case CallbackOutcome::Refused: {
                // Held for ever, the run would hold up every run after it: its undelivered
                // lines are given up, and its exit record tells the host how many and why.
                const std::string reason =
                    "the host answered " + std::to_string(answer.status) +
                    (answer.detail.empty() ? "" : " (" + answer.detail + ")") +
                    " to a callback of " + std::to_string(body.size()) + " bytes";
                logFields(
                    logger(), Poco::Message::PRIO_ERROR, "run output given up",
                    {{"run_id", batch.runId}, {"trace_id", batch.traceId}, {"reason", reason}});
                spool_.giveUp(batch.runId, reason);
                failures = 0;
                maxRecords_ = kMaxBatchRecords;
                continue;
            }
            case CallbackOutcome::Retry:
                break;
        }
        // The host is away or busy: keep everything and try again later.
        const auto pause = kRetryBackoff.after(++failures);
        for (auto waited = std::chrono::milliseconds(0); waited < pause && !stopping_;
             waited += std::chrono::milliseconds(50)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
}

}  // namespace aw
