#include "agent_executor/callback_deliverer.h"

#include <Poco/Logger.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <optional>

#include "agent_worker/core/random_id.h"
#include "executor/http_executor_client.h"
#include "logging/json_formatter.h"

namespace aw {
namespace {

Poco::Logger& logger() { return Poco::Logger::get("callbacks"); }

//! An HTTP session on a socket without Nagle's algorithm. A request goes out in two writes
//! (the header, then the body); on a kept-alive connection Nagle holds the body back until
//! the header is acknowledged, and the host delays that acknowledgement: milliseconds of
//! waiting per batch.
class NoDelaySession : public Poco::Net::HTTPClientSession {
public:
    using HTTPClientSession::HTTPClientSession;

protected:
    void connect(const Poco::Net::SocketAddress& address) override {
        HTTPClientSession::connect(address);
        socket().setNoDelay(true);
    }
};

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
      uri_(target_.url),
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
    for (const auto& json : batch.records) {
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

CallbackDeliverer::Answer CallbackDeliverer::exchange(const PendingBatch& batch,
                                                      const std::string& body,
                                                      const std::string& traceId) {
    if (!session_) {
        session_ = std::make_unique<NoDelaySession>(uri_.getHost(), uri_.getPort());
        session_->setKeepAlive(true);
        session_->setTimeout(Poco::Timespan(10, 0));
    }
    Poco::Net::HTTPRequest request("POST", uri_.getPathEtc(), Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", "Bearer " + target_.token);
    setTraceHeaders(request, {traceId, target_.sessionId, target_.executorId, batch.runId},
                    "callbacks.output");
    request.setContentType("application/json");
    request.setContentLength64(static_cast<Poco::Int64>(body.size()));
    request.setKeepAlive(true);
    session_->sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::string text;
    // Read to the end, so that the connection is ready for the next request.
    Poco::StreamCopier::copyToString(session_->receiveResponse(response), text);
    Answer answer{static_cast<int>(response.getStatus()), {}};
    if (answer.status < 200 || answer.status >= 300) answer.detail = errorDetail(text);
    return answer;
}

CallbackDeliverer::Answer CallbackDeliverer::post(const PendingBatch& batch,
                                                  const std::string& body) {
    // The run's own trace (from its start), so the host's log joins its callbacks to it.
    const std::string traceId = batch.traceId.empty() ? newTraceId() : batch.traceId;
    std::optional<Answer> answer;
    std::string failure;
    // A kept-alive connection that the host closed while it was idle fails at once, which
    // is no outage: one more try, on a new connection. Sending a batch twice is harmless
    // (its event ids make the host drop the copy).
    for (int attempt = 0; attempt < 2 && !answer; ++attempt) {
        const bool reused = session_ != nullptr;
        try {
            answer = exchange(batch, body, traceId);
        } catch (const std::exception& e) {
            session_.reset();  // the next request goes on a new connection
            failure = e.what();
            if (!reused) break;
        }
    }
    if (!answer) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "callback failed",
                  {{"error", failure},
                   {"run_id", batch.runId},
                   {"trace_id", traceId},
                   {"records", batch.records.size()}});
        return {0, failure};
    }
    if (answer->status < 200 || answer->status >= 300) {
        logFields(logger(), Poco::Message::PRIO_WARNING, "callback refused",
                  {{"status", answer->status},
                   {"error", answer->detail},
                   {"run_id", batch.runId},
                   {"trace_id", traceId},
                   {"records", batch.records.size()},
                   {"bytes", body.size()}});
    }
    return *answer;
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
