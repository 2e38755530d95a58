// RunEngine, human replies: POST /v1/runs/{rid}/human-reply on whichever host receives it.
// The host driving the run gives the reply to the run's plugin on the run's thread; another
// host (a replica on the same PostgreSQL) leaves it on the request for the driving one
// (RunStore::forwardHumanReply, announced with NOTIFY) and answers once it is taken.
#include <future>
#include <thread>

#include "agent_worker/core/capabilities.h"
#include "agent_worker/core/provider_registry.h"
#include "runs/active_run.h"
#include "runs/run_engine.h"

namespace aw {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kReplyPoll = std::chrono::milliseconds(100);

HumanAnswer answerOf(const HumanReplyRequest& reply) {
    return {reply.decision, reply.message, reply.answers, "user"};
}

Json forwardedJson(const HumanReplyRequest& reply) {
    return {{"decision", reply.decision}, {"message", reply.message}, {"answers", reply.answers}};
}

}  // namespace

Json RunEngine::humanReply(const std::string& runId, const HumanReplyRequest& reply) {
    const auto run = store_.findRun(runId);
    if (!run) throw Refused(RefusalKind::NotFound, {"run_not_found", "no run '" + runId + "'", ""});
    const auto provider = providers_.find(run->provider);
    if (provider && (provider->capabilities & capabilityBit("human_loop")) == 0) {
        throw Refused(
            RefusalKind::Unprocessable,
            {"capability_missing",
             "provider '" + run->provider + "' has no HUMAN_LOOP capability: its runs never ask",
             "runs of this provider use approval_mode \"auto\"; nothing waits for a reply"});
    }
    if (reply.requestId.empty() || (reply.decision != "allow" && reply.decision != "deny")) {
        throw Refused(
            RefusalKind::InvalidInput,
            {"invalid_reply",
             "send {\"request_id\", \"decision\": \"allow\"|\"deny\", \"message\"?, \"answers\"?}",
             "request ids are in the run's human.request events; a question's reply carries "
             "\"answers\""});
    }
    const auto request = store_.humanRequest(runId, reply.requestId);
    if (!request || request->status != "pending") {
        throw Refused(RefusalKind::Conflict,
                      {"request_not_pending",
                       request ? "request '" + reply.requestId + "' is already " + request->status
                               : "run '" + runId + "' has no request '" + reply.requestId + "'",
                       "GET /v1/runs/" + runId + "/events lists the pending human.request events"});
    }
    auto active = activeRun(runId);
    if (!active) return forwardReply(runId, reply);
    auto done = std::make_shared<std::promise<Json>>();
    auto answer = done->get_future();
    active->post([this, active, reply, done] {
        try {
            answerOnRunThread(*active, reply.requestId, answerOf(reply));
            done->set_value({{"run_id", active->run.runId},
                             {"request_id", reply.requestId},
                             {"decision", reply.decision}});
        } catch (...) {
            done->set_exception(std::current_exception());
        }
    });
    // In ticks, so that a stopping host (whose runs take no more commands) answers at once.
    const auto deadline = SteadyClock::now() + replyDeadline();
    while (answer.wait_for(kReplyPoll) != std::future_status::ready) {
        if (stopping_ || SteadyClock::now() >= deadline)
            throw Refused(
                RefusalKind::Unavailable,
                {"reply_pending", "the run did not take the reply in time", "retry the reply"});
    }
    return answer.get();
}

std::chrono::milliseconds RunEngine::replyDeadline() const {
    return options_.providerCallTimeout + std::chrono::milliseconds(5000);
}

void RunEngine::answerOnRunThread(ActiveRun& active, const std::string& requestId,
                                  const HumanAnswer& answer) {
    const auto current = store_.humanRequest(active.run.runId, requestId);
    if (!current || current->status != "pending") {
        throw Refused(
            RefusalKind::Conflict,
            {"request_not_pending", "request '" + requestId + "' is no longer pending", ""});
    }
    try {
        active.humanLoop->answer(*current, answer);
    } catch (const ProviderCallError& e) {
        if (e.processFailed()) throw;
        // The plugin refused the reply itself (a question without answers...): the user can
        // fix it and send again; the request stays pending.
        throw Refused(
            RefusalKind::Unprocessable,
            {"invalid_reply",
             "provider '" + active.run.provider + "' rejected the reply: " + e.problem().message,
             "fix the reply and send it again; the request is still pending"});
    }
}

Json RunEngine::forwardReply(const std::string& runId, const HumanReplyRequest& reply) {
    if (!store_.forwardHumanReply(runId, reply.requestId, forwardedJson(reply).dump())) {
        throw Refused(RefusalKind::Conflict,
                      {"request_not_pending",
                       "request '" + reply.requestId +
                           "' is no longer pending, or a reply to it is being taken",
                       "GET /v1/runs/" + runId + " shows its pending requests"});
    }
    // The host driving the run takes it (woken by the notice, or its next check of the run).
    const auto deadline = SteadyClock::now() + replyDeadline();
    while (!stopping_ && SteadyClock::now() < deadline) {
        const auto request = store_.humanRequest(runId, reply.requestId);
        if (!request) break;
        if (request->status == "answered") {
            return {{"run_id", runId},
                    {"request_id", reply.requestId},
                    {"decision", request->decision}};
        }
        if (request->status != "pending") {  // the run ended, or the request timed out, first
            throw Refused(RefusalKind::Conflict,
                          {"request_not_pending",
                           "request '" + reply.requestId + "' ended " + request->status +
                               " before the reply was taken",
                           "GET /v1/runs/" + runId + " shows the run's state"});
        }
        if (request->forwardedReply.empty() && !request->replyError.empty()) {
            throw Refused(RefusalKind::Unprocessable,
                          {"invalid_reply", request->replyError,
                           "fix the reply and send it again; the request is still pending"});
        }
        std::this_thread::sleep_for(kReplyPoll);
    }
    throw Refused(RefusalKind::Unavailable,
                  {"reply_pending", "no host driving run '" + runId + "' took the reply in time",
                   "the reply waits on the request for the run's host; GET /v1/runs/" + runId +
                       " shows when it is answered"});
}

void RunEngine::replyForwarded(const std::string& runId) {
    if (auto active = activeRun(runId)) {
        active->post([this, active] { takeForwardedReplies(*active); });
    }
}

void RunEngine::takeForwardedReplies(ActiveRun& active) {
    for (const auto& request : store_.pendingHumanRequests(active.run.runId)) {
        if (request.forwardedReply.empty()) continue;
        const Json reply = Json::parse(request.forwardedReply, nullptr, false);
        std::string error;
        try {
            answerOnRunThread(
                active, request.requestId,
                {reply.value("decision", std::string()), reply.value("message", std::string()),
                 reply.value("answers", Json()), "user"});
        } catch (const Refused& refused) {
            error = refused.problem().message;
        }
        store_.settleForwardedReply(active.run.runId, request.requestId, error);
    }
}

}  // namespace aw
