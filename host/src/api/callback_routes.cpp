// POST /v1/callbacks/executor: an executor's output batch. The token says which worker
// posted it; CallbackAdmission (core) decides whether that worker may post these records;
// RunEngine::deliver stores them. A refusal stores nothing and is logged with the worker.
#include <Poco/Logger.h>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/runs/callback_admission.h"
#include "api/routes.h"
#include "logging/json_formatter.h"
#include "runs/run_engine.h"

namespace aw {
namespace {

Poco::Logger& logger() {
    return Poco::Logger::get("callbacks");
}

//! The caller of an admitted request: its worker, or the operator (TokenAuth let it in, so
//! a token that is no worker's is one of auth.executor_tokens).
CallbackCaller callerOf(const HttpRequest& request, const CallbackIdentify& identify) {
    const std::string authorization = request.header("Authorization");
    constexpr std::size_t kBearer = 7;  // "Bearer ", checked by TokenAuth
    if (authorization.size() > kBearer) {
        if (auto worker = identify(authorization.substr(kBearer))) return *worker;
    }
    CallbackCaller caller;
    caller.operatorToken = true;
    return caller;
}

int statusOf(CallbackVerdictKind kind) {
    switch (kind) {
        case CallbackVerdictKind::Admitted:
            return 200;
        case CallbackVerdictKind::Forbidden:
            return 403;
        case CallbackVerdictKind::UnknownRun:
            return 404;
        case CallbackVerdictKind::Invalid:
            return 400;
    }
    return 400;
}

[[noreturn]] void refuse(const CallbackCaller& caller, const CallbackBatch* batch, int status,
                         const Problem& problem) {
    logFields(
        logger(), Poco::Message::PRIO_WARNING, "callback refused",
        {{"worker", caller.describe()},
         {"session_id", caller.operatorToken ? (batch ? batch->sessionId : "") : caller.sessionId},
         {"batch_run_id", batch ? batch->runId : ""},
         {"status", status},
         {"code", problem.code},
         {"error", problem.message}});
    throw ApiError(status, problem);
}

}  // namespace

void addCallbackRoutes(Router& router, RunEngine& engine, RunStore& store,
                       CallbackIdentify identify) {
    router.add({"POST", "/v1/callbacks/executor", Scope::Executor,
                [&engine, &store, identify = std::move(identify)](const HttpRequest& request) {
                    const CallbackCaller caller = callerOf(request, identify);
                    CallbackBatch batch;
                    try {
                        auto parsed = parseCallbackBatch(request.json());
                        if (const auto* problem = std::get_if<Problem>(&parsed)) {
                            refuse(caller, nullptr, 400, *problem);
                        }
                        batch = std::move(std::get<CallbackBatch>(parsed));
                    } catch (const ApiError& e) {
                        if (e.status() != 400) throw;
                        refuse(caller, nullptr, 400, e.problem());
                    }
                    const auto verdict = CallbackAdmission(store).check(caller, batch);
                    if (!verdict.admitted())
                        refuse(caller, &batch, statusOf(verdict.kind), verdict.problem);
                    std::vector<RawOutputRecord> records;
                    records.reserve(batch.events.size());
                    for (const auto& record : batch.events)
                        records.push_back(toRawOutputRecord(record));
                    try {
                        return HttpResponse::json(200, engine.deliver(records));
                    } catch (const Refused& refused) {
                        // A run removed between the check and the insert.
                        refuse(caller, &batch, 404, refused.problem());
                    }
                }});
}

}  // namespace aw
