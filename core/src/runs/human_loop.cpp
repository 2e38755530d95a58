#include "agent_worker/core/runs/human_loop.h"

#include "agent_worker/core/time_format.h"
#include "agent_worker/event_types.h"

namespace aw {

using Json = nlohmann::json;

void HumanLoop::answer(const HumanLoopRecord& request, const HumanAnswer& answer) {
    const auto& runId = translation_.channel().run.runId;
    const bool timedOut = answer.decision == "timed_out";
    Json reply{{"request_id", request.requestId}, {"decision", timedOut ? "deny" : answer.decision}};
    if (!answer.message.empty()) reply["message"] = answer.message;
    if (!answer.answers.is_null()) reply["answers"] = answer.answers;
    const Json output = plugin_.reply(reply);
    Json data{{"request_id", request.requestId}, {"decision", answer.decision}, {"by", answer.by}};
    if (!answer.message.empty()) data["message"] = answer.message;
    std::vector<NewEvent> events{{hostEventId(runId, std::string(AW_EVENT_HUMAN_RESPONSE) + ":" + request.requestId), AW_EVENT_HUMAN_RESPONSE, data,
                                  unixMillisNow()}};
    const std::string sourceId = hostEventId(runId, "reply:" + request.requestId);
    const auto admitted = translation_.admit(output, sourceId, PluginCall::Reply);
    for (auto& event : RunTranslation::eventsOf(admitted, sourceId)) {
        // The host's human.response above is the answer; the plugin's own would repeat it.
        const bool echo =
            event.type == AW_EVENT_HUMAN_RESPONSE && event.data.value("request_id", std::string()) == request.requestId;
        if (!echo) events.push_back(std::move(event));
    }
    log_.append(runId, std::move(events));
    if (log_.store().pendingHumanRequests(runId).empty()) {
        log_.appendHostEvent(runId, std::string(AW_EVENT_RUN_RESUMED) + ":" + request.requestId, AW_EVENT_RUN_RESUMED,
                             {{"request_id", request.requestId}});
    }
    translation_.effects(admitted);
}

void HumanLoop::expire(std::int64_t nowMs) {
    const auto cutoff = nowMs - timeout_.count();
    for (const auto& request : log_.store().pendingHumanRequests(translation_.channel().run.runId)) {
        if (request.createdAtMs > cutoff) continue;
        answer(request, {"timed_out", "no answer within " + std::to_string(timeout_.count() / 1000) + " s", nullptr,
                         "host"});
    }
}

void HumanLoop::cancelPending() {
    const auto& runId = translation_.channel().run.runId;
    std::vector<NewEvent> events;
    for (const auto& request : log_.store().pendingHumanRequests(runId)) {
        events.push_back({hostEventId(runId, std::string(AW_EVENT_HUMAN_RESPONSE) + ":" + request.requestId), AW_EVENT_HUMAN_RESPONSE,
                          {{"request_id", request.requestId}, {"decision", "cancelled"}, {"by", "host"}},
                          unixMillisNow()});
    }
    if (!events.empty()) log_.append(runId, std::move(events));
}

}  // namespace aw
