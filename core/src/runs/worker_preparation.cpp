#include "agent_worker/core/runs/worker_preparation.h"

#include <cctype>
#include <chrono>

#include "agent_worker/core/random_id.h"
#include "agent_worker/core/restore_planner.h"
#include "agent_worker/core/runs/run_failure.h"
#include "agent_worker/core/workspace_prefix.h"

namespace aw {
namespace {

using Json = nlohmann::json;

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
    prepared.trace = {newTraceId(), run.sessionId, gateway_.executorId(prepared.worker), run.runId};
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
        restored = executor.restore(prepared.trace, plan);
        const Json linked = executor.link(prepared.trace, plan);
        restored["links"] = linked.value("links", 0);
        const Json validated = executor.validate(prepared.trace, plan);
        const Json missing = validated.value("missing_paths", Json::array());
        if (!missing.empty()) {
            problem = Problem{"restore_validation_failed",
                              "required paths are missing after the restore: " + missing.dump(),
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
    log_.appendHostEvent(run.runId, "workspace.restore:" + std::to_string(attempt), "workspace.restore", restored);
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
