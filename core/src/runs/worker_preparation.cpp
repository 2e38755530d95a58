#include "agent_worker/core/runs/worker_preparation.h"

#include <cctype>
#include <chrono>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/restore_planner.h"
#include "agent_worker/core/runs/run_failure.h"
#include "agent_worker/core/workspace_prefix.h"
#include "agent_worker/event_types.h"

namespace aw {
namespace {

using Json = nlohmann::json;

//! One trace per run, the same on every attempt: the executor keeps the trace of a run's
//! first start, and every call and callback of the run carries it. Run ids made here are
//! `run_` + 32 hex digits, which is a trace id already; other ids are hashed (FNV-1a).
std::string traceIdOf(const std::string& runId) {
    const std::string hex = runId.rfind("run_", 0) == 0 ? runId.substr(4) : "";
    if (hex.size() == 32 && hex.find_first_not_of("0123456789abcdef") == std::string::npos) return hex;
    std::string out;
    for (std::uint64_t seed : {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL}) {
        std::uint64_t hash = seed;
        for (unsigned char c : runId) hash = (hash ^ c) * 0x100000001b3ULL;
        static constexpr char kHex[] = "0123456789abcdef";
        for (int i = 0; i < 16; ++i, hash >>= 4) out += kHex[hash & 0xf];
    }
    return out;
}

}  // namespace

std::string statePathName(const std::string& path) {
    std::string name;
    for (char c : path) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
            name += c;
        } else if ((c == '/' || c == '-' || c == '.') && !name.empty() && name.back() != '-') {
            name += '-';
        }
    }
    while (!name.empty() && name.back() == '-') name.pop_back();
    return name.empty() ? "state" : name;
}

PreparedWorker WorkerPreparation::activate(const RunRecord& run) {
    const auto& placement = options_.placement;
    const WorkerSpec spec{run.sessionId, placement.tenantId, placement.runtime,
                          placement.workspacePrefix(run.sessionId)};
    PreparedWorker prepared;
    try {
        prepared.activation = lifecycle_.activate(spec);
    } catch (const ProblemError& e) {
        throw RunAttemptFailure(e.problem(), true);
    }
    if (prepared.activation.decision.path == ActivationPath::WaitForTransition) {
        throw RunAttemptFailure({"worker_busy",
                                 "the session's worker is in transition: " + prepared.activation.decision.reason,
                                 "the run is retried shortly"},
                                true);
    }
    prepared.worker = prepared.activation.worker;
    prepared.executor = gateway_.executor(prepared.worker);
    prepared.trace = {traceIdOf(run.runId), run.sessionId, gateway_.executorId(prepared.worker), run.runId};
    prepared.roots = gateway_.roots(prepared.worker);
    return prepared;
}

void WorkerPreparation::restore(PreparedWorker& prepared, const RunRecord& run, int attempt,
                                const Json& providerFacts) {
    const auto& decision = prepared.activation.decision;
    if (!decision.includes(ActivationStep::Restore)) return;

    RuntimeManifest manifest = options_.manifest;
    std::vector<ProviderStatePath> statePaths;
    for (const auto& path : providerFacts.value("state_paths", Json::array())) {
        if (path.is_string()) statePaths.push_back({statePathName(path.get<std::string>()), path.get<std::string>()});
    }
    manifest.mergeProviderStatePaths(run.provider, statePaths);
    const Json sessions = Json::parse(prepared.worker.providerSessionsJson, nullptr, false);
    const bool resuming = sessions.is_object() && sessions.contains(run.provider);
    std::optional<Problem> problem;
    Json restored;
    const auto started = std::chrono::steady_clock::now();
    try {
        RestorePlanner planner(manifest, prepared.roots);
        RestoreRequest request;
        request.level = options_.restoreLevel;
        request.situation = decision.restoreSituation.value_or(RestoreSituation::Adopted);
        if (resuming) request.resumeProvider = run.provider;
        const auto plan =
            toJson(planner.plan(run.sessionId, parseWorkspacePrefix(prepared.worker.workspaceS3Prefix), request));
        auto& executor = *prepared.executor;
        restored = RestoreAnswer::fromJson(executor.restore(prepared.trace, plan)).toJson();
        restored["links"] = LinkAnswer::fromJson(executor.link(prepared.trace, plan)).links;
        const auto missing = ValidateAnswer::fromJson(executor.validate(prepared.trace, plan)).missingPaths;
        if (!missing.empty()) {
            problem = Problem{"restore_validation_failed",
                              "required paths are missing after the restore: " + Json(missing).dump(),
                              "the session's stored files are incomplete; check the object store under " +
                                  prepared.worker.workspaceS3Prefix};
            restored["missing_paths"] = missing;
        }
        restored["situation"] = toString(request.situation);
    } catch (const ProblemError& e) {
        problem = e.problem();
    }
    restored["duration_ms"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    restored["status"] = problem ? "failed" : "succeeded";
    if (problem) restored["error"] = problem->message;
    log_.appendHostEvent(run.runId, std::string(AW_EVENT_WORKSPACE_RESTORE) + ":" + std::to_string(attempt), AW_EVENT_WORKSPACE_RESTORE, restored);
    try {
        prepared.worker = lifecycle_.completeActivation(prepared.activation, problem);
    } catch (const ProblemError& e) {
        throw RunAttemptFailure(e.problem(), true);
    }
    if (problem) {
        // A missing required path is final: retrying would restore the same incomplete files.
        throw RunAttemptFailure(*problem, problem->code != "restore_validation_failed");
    }
}

}  // namespace aw
