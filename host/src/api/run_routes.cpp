// The run API: messages, runs and their event streams, stop, human replies, the run queue
// and the maintenance passes (the executors' callbacks: callback_routes.cpp). See docs/api.md.
#include "agent_worker/core/identifiers.h"
#include "agent_worker/core/json_access.h"
#include "agent_worker/core/refusal.h"
#include "api/query_params.h"
#include "api/routes.h"
#include "api/run_event_streams.h"
#include "runs/maintenance.h"
#include "runs/run_engine.h"

namespace aw {
namespace {

using Json = nlohmann::json;

constexpr JsonDocumentKind kMessageBody{
    "invalid_message", "send {\"provider\", \"prompt\", \"model\"?, \"approval_mode\"?: \"auto\"|\"ask\"}"};
constexpr JsonDocumentKind kReplyBody{
    "invalid_reply", "send {\"request_id\", \"decision\": \"allow\"|\"deny\", \"message\"?, \"answers\"?}"};

//! Keys a client chooses (Idempotency-Key, enqueue_key, a human request's id) are stored
//! and compared, never interpreted: one cap keeps them from growing rows and log lines.
constexpr std::size_t kMaxKeyLength = 200;
//! How long a requested maintenance pass waits for another replica's to end.
constexpr std::chrono::milliseconds kMaintenancePatience{30000};

void checkKeyLength(const std::string& key, const std::string& name, const std::string& code) {
    if (key.size() > kMaxKeyLength) {
        throw ApiError(400,
                       {code,
                        name + " is " + std::to_string(key.size()) +
                            " characters long, over the limit of " + std::to_string(kMaxKeyLength),
                        "send a shorter " + name + " (a hash of a longer one will do)"});
    }
}

//! The `{rid}` of a run route: run ids are identifiers (at most 128 characters).
const std::string& runIdOf(const HttpRequest& request) {
    const std::string& runId = request.param("rid");
    if (auto problem = checkIdentifier("run", runId)) throw ApiError(400, *problem);
    return runId;
}

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
            checkKeyLength(message.enqueueKey, "enqueue_key", "invalid_enqueue_key");
            checkKeyLength(message.idempotencyKey, "idempotency_key", "invalid_idempotency_key");
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
        checkKeyLength(reply.requestId, "request_id", "invalid_reply");
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

ApiError runNotFound(const std::string& runId) {
    return ApiError(404, {"run_not_found", "no run '" + runId + "'",
                          "run ids come from POST /v1/sessions/{sid}/messages"});
}

RunRecord runOr404(RunStore& store, const std::string& runId) {
    auto run = store.findRun(runId);
    if (!run) throw runNotFound(runId);
    return *run;
}

}  // namespace

void addRunRoutes(Router& router, RunEngine& engine, RunStore& store, RunQueue& queue,
                  Maintenance& maintenance, RunEventStreams& streams) {
    router.add({"POST", "/v1/sessions/{sid}/messages", Scope::Client, [&engine](const HttpRequest& request) {
                    MessageRequest message = messageFrom(request.json(), request.param("sid"), false);
                    message.idempotencyKey = request.header("Idempotency-Key");
                    checkKeyLength(message.idempotencyKey, "Idempotency-Key",
                                   "invalid_idempotency_key");
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

    router.add({"GET", "/v1/runs", Scope::Client, [&store](const HttpRequest& request) {
                    const std::string sessionId = request.query("session_id").value_or("");
                    if (!sessionId.empty()) {
                        if (auto problem = checkIdentifier("session", sessionId))
                            throw ApiError(400, *problem);
                    }
                    const auto limit = numberParam(request, "limit", 100, 1, 1000);
                    Json runs = Json::array();
                    for (const auto& run :
                         store.recentRuns(sessionId, static_cast<std::size_t>(limit)))
                        runs.push_back(run.toJson());
                    return HttpResponse::json(200, {{"runs", runs}});
                }});
    router.add({"GET", "/v1/runs/{rid}", Scope::Client, [&store](const HttpRequest& request) {
                    const std::string runId = runIdOf(request);
                    const auto view = store.runDetail(runId);
                    if (!view) throw runNotFound(runId);
                    Json body = view->run.toJson();
                    Json pending = Json::array();
                    for (const auto& human : view->pendingHumanRequests)
                        pending.push_back(human.toJson());
                    body["pending_human_requests"] = pending;
                    body["last_seq"] = view->lastSeq;
                    return HttpResponse::json(200, body);
                }});
    router.add({"GET", "/v1/runs/{rid}/events", Scope::Client,
                [&store, &streams](const HttpRequest& request) {
                    const auto run = runOr404(store, runIdOf(request));
                    std::int64_t after = numberParam(request, "after", 0, 0, INT64_MAX);
                    const bool sse = request.header("Accept").find("text/event-stream") != std::string::npos;
                    if (sse) {
                        const std::string lastEventId = request.header("Last-Event-ID");
                        if (!lastEventId.empty()) {
                            const auto seq = parseNumber(lastEventId, 0, INT64_MAX);
                            if (!seq) {
                                throw ApiError(
                                    400, {"invalid_last_event_id",
                                          "Last-Event-ID '" + lastEventId.substr(0, kMaxKeyLength) +
                                              "' is not an event seq",
                                          "send the id: of the last event received, a number"});
                            }
                            after = *seq;
                            // A reconnect past the end of a finished run: 204 is the EventSource
                            // standard's word for "stop"; a 200 would bring it back every second.
                            if (isTerminal(run.status) && after >= store.lastSeq(run.runId)) {
                                HttpResponse done;
                                done.status = 204;
                                return done;
                            }
                        }
                        return streams.open(run.runId, after);
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
    router.add(
        {"POST", "/v1/runs/{rid}/stop", Scope::Client, [&engine](const HttpRequest& request) {
             return HttpResponse::json(202, answeringRefusals([&] {
                                                return engine.requestStop(runIdOf(request));
                                            }).toJson());
         }});
    router.add({"POST", "/v1/runs/{rid}/human-reply", Scope::Client, [&engine](const HttpRequest& request) {
                    const auto reply = humanReplyFrom(request.json());
                    return HttpResponse::json(200, answeringRefusals([&] {
                                                  return engine.humanReply(runIdOf(request), reply);
                                              }));
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

    router.add(
        {"POST", "/v1/maintenance/idle-stop", Scope::Client, [&maintenance](const HttpRequest&) {
             return HttpResponse::json(200,
                                       maintenance.stopIdleWorkers(kMaintenancePatience).toJson());
         }});
    router.add({"POST", "/v1/maintenance/remove-stopped", Scope::Client,
                [&maintenance](const HttpRequest&) {
                    return HttpResponse::json(
                        200, maintenance.removeLongStoppedWorkers(kMaintenancePatience).toJson());
                }});
}

}  // namespace aw
