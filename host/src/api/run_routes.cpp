// The run API: messages, runs and their event streams, stop, human replies, the run queue
// and the maintenance passes (the executors' callbacks: callback_routes.cpp). See docs/api.md.
#include <atomic>

#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/json_access.h"
#include "agent_worker/core/refusal.h"
#include "api/routes.h"
#include "runs/event_hub.h"
#include "runs/run_engine.h"

namespace aw {
namespace {

using Json = nlohmann::json;

constexpr JsonDocumentKind kMessageBody{
    "invalid_message", "send {\"provider\", \"prompt\", \"model\"?, \"approval_mode\"?: \"auto\"|\"ask\"}"};
constexpr JsonDocumentKind kReplyBody{
    "invalid_reply", "send {\"request_id\", \"decision\": \"allow\"|\"deny\", \"message\"?, \"answers\"?}"};

//! Reads a request body: what StrictObject finds wrong is the client's 400.
template <class Read>
auto readingBody(Read&& read) -> decltype(read()) {
    try {
        return read();
    } catch (const ApiError&) {
        throw;
    } catch (const ProblemError& e) {
        throw ApiError(400, e.problem());
    }
}

//! A string field that may be absent or null (read as empty).
std::string optionalString(StrictObject& body, std::string_view key) {
    const Json* value = body.find(key);
    if (!value || value->is_null()) return {};
    return body.optionalString(key).value_or("");
}

//! The message body; POST /v1/run-queue adds session_id, enqueue_key and idempotency_key.
MessageRequest messageFrom(const Json& json, std::string sessionId, bool queueFields) {
    return readingBody([&] {
        StrictObject body(kMessageBody, json, "");
        MessageRequest message;
        message.sessionId = queueFields ? optionalString(body, "session_id") : std::move(sessionId);
        message.provider = body.requiredString("provider");
        if (message.provider.empty()) body.fail("provider is empty");
        message.prompt = body.requiredString("prompt");
        message.model = optionalString(body, "model");
        const std::string mode = optionalString(body, "approval_mode");
        if (!mode.empty()) message.approvalMode = mode;
        if (queueFields) {
            message.enqueueKey = optionalString(body, "enqueue_key");
            message.idempotencyKey = optionalString(body, "idempotency_key");
        }
        return message;
    });
}

//! The run path refuses with a kind; HTTP statuses are this layer's alone.
int statusOf(RefusalKind kind) {
    switch (kind) {
        case RefusalKind::InvalidInput: return 400;
        case RefusalKind::NotFound: return 404;
        case RefusalKind::Conflict: return 409;
        case RefusalKind::Unprocessable: return 422;
        case RefusalKind::Unavailable: return 503;
    }
    return 400;
}

//! Runs a call into the run path, answering its refusals with their HTTP status.
template <class Call>
auto answeringRefusals(Call&& call) -> decltype(call()) {
    try {
        return call();
    } catch (const Refused& refused) {
        throw ApiError(statusOf(refused.kind()), refused.problem());
    }
}

HumanReplyRequest humanReplyFrom(const Json& json) {
    return readingBody([&] {
        StrictObject body(kReplyBody, json, "");
        HumanReplyRequest reply;
        reply.requestId = optionalString(body, "request_id");
        reply.decision = optionalString(body, "decision");
        reply.message = optionalString(body, "message");
        if (const Json* answers = body.find("answers")) reply.answers = *answers;
        return reply;
    });
}

HttpResponse accepted(const CreatedRun& created) {
    return HttpResponse::json(created.created ? 202 : 200,
                              {{"run_id", created.run.runId},
                               {"status", toString(created.run.status)},
                               {"session_id", created.run.sessionId},
                               {"created", created.created}});
}

RunRecord runOr404(RunStore& store, const std::string& runId) {
    auto run = store.findRun(runId);
    if (!run) {
        throw ApiError(404, {"run_not_found", "no run '" + runId + "'",
                             "run ids come from POST /v1/sessions/{sid}/messages"});
    }
    return *run;
}

std::int64_t numberParam(const HttpRequest& request, const std::string& name, std::int64_t fallback,
                         std::int64_t min, std::int64_t max) {
    const auto text = request.query(name);
    if (!text || text->empty()) return fallback;
    std::size_t used = 0;
    std::int64_t value = 0;
    try {
        value = std::stoll(*text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != text->size() || value < min || value > max) {
        throw ApiError(400, {"invalid_query", "?" + name + "=" + *text + " is not a number in " +
                                                  std::to_string(min) + ".." + std::to_string(max),
                             ""});
    }
    return value;
}

//! Counts live SSE streams so they never take more than their share of HTTP threads.
class StreamSlots {
public:
    explicit StreamSlots(int max) : max_(max) {}
    bool tryTake() {
        int current = used_.load();
        while (current < max_) {
            if (used_.compare_exchange_weak(current, current + 1)) return true;
        }
        return false;
    }
    void give() { --used_; }

private:
    int max_;
    std::atomic<int> used_{0};
};

void writeEvent(std::ostream& out, const StoredEvent& event) {
    out << "id: " << event.seq << "\nevent: " << event.type << "\ndata: "
        << event.toJson().dump(-1, ' ', false, Json::error_handler_t::replace) << "\n\n";
}

HttpResponse eventStream(RunStore& store, EventHub& hub, std::shared_ptr<StreamSlots> slots,
                         const RunStreamOptions& options, const std::string& runId, std::int64_t after) {
    if (!slots->tryTake()) {
        throw ApiError(503, {"too_many_streams",
                             "all " + std::to_string(options.maxStreams) + " event streams are in use",
                             "retry later, or read GET /v1/runs/{rid}/events as JSON with ?after="});
    }
    HttpResponse response;
    response.contentType = "text/event-stream";
    response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
    response.stream = [&store, &hub, slots, options, runId, after](std::ostream& out) {
        struct Release {
            std::shared_ptr<StreamSlots> slots;
            ~Release() { slots->give(); }
        } release{slots};
        std::int64_t last = after;
        out << "retry: 1000\n\n";
        out.flush();
        while (out.good()) {
            const auto events = store.events(runId, last, 500);
            for (const auto& event : events) {
                writeEvent(out, event);
                last = event.seq;
            }
            if (!events.empty()) {
                out.flush();
                continue;
            }
            // Caught up: a finished run's stream ends here; a live one waits for more.
            const auto run = store.findRun(runId);
            if (!run || isTerminal(run->status)) {
                if (store.lastSeq(runId) <= last) break;
                continue;
            }
            if (!hub.waitForMore(runId, last, options.keepAlive)) {
                out << ": keep-alive\n\n";
                out.flush();
            }
        }
    };
    return response;
}

}  // namespace

void addRunRoutes(Router& router, RunEngine& engine, RunStore& store, RunQueue& queue,
                  LifecycleManager& lifecycle, EventHub& hub, const RunStreamOptions& streams) {
    auto slots = std::make_shared<StreamSlots>(streams.maxStreams);

    router.add({"POST", "/v1/sessions/{sid}/messages", Scope::Client, [&engine](const HttpRequest& request) {
                    MessageRequest message = messageFrom(request.json(), request.param("sid"), false);
                    message.idempotencyKey = request.header("Idempotency-Key");
                    if (message.idempotencyKey.size() > 200) {
                        throw ApiError(400, {"invalid_idempotency_key", "Idempotency-Key is longer than 200 characters", ""});
                    }
                    return accepted(answeringRefusals([&] { return engine.submit(message); }));
                }});
    router.add({"GET", "/v1/sessions/{sid}/todos", Scope::Client, [&store](const HttpRequest& request) {
                    const auto& sessionId = request.param("sid");
                    if (auto problem = checkIdentifier("session", sessionId)) throw ApiError(400, *problem);
                    Json todos = Json::array();
                    for (const auto& item : store.todos(sessionId)) {
                        todos.push_back({{"id", item.id}, {"content", item.content}, {"status", item.status},
                                         {"run_id", item.runId}});
                    }
                    return HttpResponse::json(200, {{"session_id", sessionId}, {"todos", todos}});
                }});

    router.add({"GET", "/v1/runs/{rid}", Scope::Client, [&store](const HttpRequest& request) {
                    const auto run = runOr404(store, request.param("rid"));
                    Json body = run.toJson();
                    Json pending = Json::array();
                    for (const auto& human : store.pendingHumanRequests(run.runId)) pending.push_back(human.toJson());
                    body["pending_human_requests"] = pending;
                    body["last_seq"] = store.lastSeq(run.runId);
                    return HttpResponse::json(200, body);
                }});
    router.add({"GET", "/v1/runs/{rid}/events", Scope::Client,
                [&store, &hub, slots, streams](const HttpRequest& request) {
                    const auto run = runOr404(store, request.param("rid"));
                    std::int64_t after = numberParam(request, "after", 0, 0, INT64_MAX);
                    const bool sse = request.header("Accept").find("text/event-stream") != std::string::npos;
                    if (sse) {
                        const std::string lastEventId = request.header("Last-Event-ID");
                        if (!lastEventId.empty()) {
                            try {
                                after = std::stoll(lastEventId);
                            } catch (const std::exception&) {
                                throw ApiError(400, {"invalid_last_event_id",
                                                     "Last-Event-ID '" + lastEventId + "' is not an event seq", ""});
                            }
                        }
                        return eventStream(store, hub, slots, streams, run.runId, after);
                    }
                    const auto limit = numberParam(request, "limit", 500, 1, 5000);
                    Json events = Json::array();
                    const auto found = store.events(run.runId, after, static_cast<std::size_t>(limit));
                    for (const auto& event : found) events.push_back(event.toJson());
                    return HttpResponse::json(200, {{"run_id", run.runId},
                                                    {"status", toString(run.status)},
                                                    {"events", events},
                                                    {"next_after", found.empty() ? after : found.back().seq}});
                }});
    router.add({"POST", "/v1/runs/{rid}/stop", Scope::Client, [&engine](const HttpRequest& request) {
                    return HttpResponse::json(
                        202, answeringRefusals([&] { return engine.requestStop(request.param("rid")); }).toJson());
                }});
    router.add({"POST", "/v1/runs/{rid}/human-reply", Scope::Client, [&engine](const HttpRequest& request) {
                    const auto reply = humanReplyFrom(request.json());
                    return HttpResponse::json(
                        200, answeringRefusals([&] { return engine.humanReply(request.param("rid"), reply); }));
                }});

    router.add({"POST", "/v1/run-queue", Scope::Client, [&engine](const HttpRequest& request) {
                    MessageRequest message = messageFrom(request.json(), "", true);
                    return accepted(answeringRefusals([&] { return engine.submit(message); }));
                }});
    router.add({"POST", "/v1/run-queue/drain", Scope::Client, [&engine](const HttpRequest&) {
                    return HttpResponse::json(200, {{"claimed", engine.drain()}});
                }});
    router.add({"GET", "/v1/run-queue", Scope::Client, [&queue](const HttpRequest& request) {
                    std::optional<QueueStatus> status;
                    if (const auto name = request.query("status"); name && !name->empty()) {
                        status = parseQueueStatus(*name);
                        if (!status) {
                            throw ApiError(400, {"invalid_query", "unknown queue status '" + *name + "'",
                                                 "use queued, claimed, succeeded, retry_wait or final_failed"});
                        }
                    }
                    const auto limit = numberParam(request, "limit", 100, 1, 1000);
                    Json entries = Json::array();
                    for (const auto& entry : queue.list(status, static_cast<std::size_t>(limit))) {
                        entries.push_back(entry.toJson());
                    }
                    return HttpResponse::json(200, {{"entries", entries}});
                }});

    router.add({"POST", "/v1/maintenance/idle-stop", Scope::Client, [&lifecycle](const HttpRequest&) {
                    return HttpResponse::json(200, lifecycle.stopIdleWorkers().toJson());
                }});
    router.add({"POST", "/v1/maintenance/remove-stopped", Scope::Client, [&lifecycle](const HttpRequest&) {
                    return HttpResponse::json(200, lifecycle.removeLongStoppedWorkers().toJson());
                }});
}

}  // namespace aw
