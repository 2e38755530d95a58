// POST /v1/callbacks/executor: an executor's output batch. The token says which worker
// posted it; CallbackAdmission (core) decides whether that worker may post these records,
// inside the transaction in which RunEngine::deliver stores them. A refusal stores nothing
// and is logged with the worker.
#include <Poco/Logger.h>

#include <algorithm>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/runs/callback_admission.h"
#include "api/routes.h"
#include "logging/json_formatter.h"
#include "metrics/host_metrics.h"
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

//! Counts the batch in the metrics as it is answered: admitted, or refused however it was.
struct CallbackCount {
    HostMetrics* metrics;
    std::optional<nlohmann::json> delivered;  //!< {accepted, new} once admitted
    ~CallbackCount() {
        if (!metrics) return;
        if (!delivered) {
            metrics->callbackRefused();
            return;
        }
        const auto accepted = (*delivered)["accepted"].get<std::uint64_t>();
        metrics->callbackAdmitted(accepted, accepted - (*delivered)["new"].get<std::uint64_t>());
    }
};

std::vector<std::string> runIdsOf(const std::vector<RawOutputRecord>& records) {
    std::vector<std::string> runIds;
    for (const auto& record : records) {
        if (std::find(runIds.begin(), runIds.end(), record.runId) == runIds.end())
            runIds.push_back(record.runId);
    }
    return runIds;
}

}  // namespace

void addCallbackRoutes(Router& router, RunEngine& engine, CallbackIdentify identify,
                       HostMetrics* metrics) {
    router.add({"POST", "/v1/callbacks/executor", Scope::Executor,
                [&engine, identify = std::move(identify), metrics](const HttpRequest& request) {
                    const auto arrival = std::chrono::steady_clock::now();
                    CallbackCount count{metrics, std::nullopt};
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
                    std::vector<RawOutputRecord> records;
                    records.reserve(batch.events.size());
                    for (const auto& record : batch.events)
                        records.push_back(toRawOutputRecord(record));
                    // Checked in the transaction that stores the batch, so two batches of one
                    // run (a redelivery racing its original, a forged exit racing the real one)
                    // each get the answer that holds once the other is stored.
                    CallbackVerdict verdict;
                    const auto runIds = metrics ? runIdsOf(records) : std::vector<std::string>{};
                    // Told before the records are handed over: their events may be stored at once.
                    if (metrics) metrics->events().arrived(runIds, arrival);
                    const auto delivered =
                        engine.deliver(records, [&](const RunOutputStates& states) {
                            verdict = CallbackAdmission(states).check(caller, batch);
                            return verdict.admitted();
                        });
                    if (!delivered) {
                        if (metrics) metrics->events().withdrawn(runIds, arrival);
                        refuse(caller, &batch, statusOf(verdict.kind), verdict.problem);
                    }
                    count.delivered = delivered;
                    return HttpResponse::json(200, *delivered);
                }});
}

}  // namespace aw
