#include "agent_worker/core/restore_planner.h"

#include <algorithm>

namespace aw {
namespace {

//! A manifest entry or provider state path, before its target is resolved.
struct Candidate {
    std::string name;
    RestoreLevel level;
    std::string sourceKeyPrefix;
    std::string target;
    RestoreMode mode;
    std::optional<ConflictPolicy> conflictPolicy;
    bool required;
};

}  // namespace

RestorePlanner::RestorePlanner(RuntimeManifest manifest, RestoreRoots roots)
    : manifest_(std::move(manifest)), roots_(std::move(roots)) {
    if (auto problem = checkRestoreRoots(roots_)) throw ProblemError(std::move(*problem));
    std::vector<std::string> configured = manifest_.protectedPaths;
    for (const auto& path : builtinProtectedPaths()) configured.push_back(path);
    for (const auto& path : configured) {
        // Protected paths may lie outside the roots: they are a fence, not a destination.
        ResolvedPath resolved = resolveRestorePath(path, roots_, false);
        if (!resolved.ok()) {
            throw ProblemError(Problem{"invalid_runtime_manifest",
                                       "protected path \"" + path + "\" " + resolved.fault,
                                       "write protected paths as ~/..., absolute or "
                                       "workspace-relative paths"});
        }
        if (std::find(protectedPaths_.begin(), protectedPaths_.end(), resolved.path) ==
            protectedPaths_.end()) {
            protectedPaths_.push_back(std::move(resolved.path));
        }
    }
}

RestorePlan RestorePlanner::plan(const std::string& sessionId, const WorkspacePrefix& prefix,
                                 const RestoreRequest& request) const {
    RestorePlan plan;
    plan.sessionId = sessionId;
    plan.bucket = prefix.bucket;
    plan.keyPrefix = prefix.keyPrefix;
    plan.level = request.level;
    plan.situation = request.situation;
    plan.protectedPaths = protectedPaths_;

    std::vector<Candidate> selected;
    for (const auto& entry : manifest_.entries) {
        if (entry.level > request.level) continue;
        selected.push_back({entry.name, entry.level, prefix.keyPrefix + entry.name + "/",
                            entry.target, entry.mode, entry.conflictPolicy, entry.required});
    }
    for (const auto& [provider, paths] : manifest_.providerStatePaths) {
        const bool resumed = request.resumeProvider == provider;
        if (request.level < RestoreLevel::AgentState && !resumed) continue;
        for (const auto& path : paths) {
            selected.push_back({provider + "/" + path.name, RestoreLevel::AgentState,
                                prefix.keyPrefix + std::string(kAgentStateFolder) + "/" + provider +
                                    "/" + path.name + "/",
                                path.target, RestoreMode::Link, std::nullopt, resumed});
        }
    }

    for (const auto& candidate : selected) {
        const ResolvedPath target = resolveRestorePath(candidate.target, roots_);
        if (!target.ok()) {
            throw ProblemError(Problem{"restore_plan_rejected",
                                       "restore plan entry \"" + candidate.name + "\": target \"" +
                                           candidate.target + "\" " + target.fault,
                                       "fix the runtime manifest entry named above: targets must "
                                       "stay inside the workspace and home roots"});
        }
        // A new session has nothing stored, so nothing can be required of it yet.
        const bool required = candidate.required && request.situation != RestoreSituation::NewWorker;
        if (required) plan.requiredPaths.push_back(target.path);
        const bool restoreNow = [&] {
            switch (request.situation) {
                case RestoreSituation::NewWorker:
                    // Storage holds nothing for this session yet, so nothing is copied; but
                    // the links are made, so the CLI's state lands in the synced state area.
                case RestoreSituation::StoppedWithFiles:
                    return candidate.mode == RestoreMode::Link;
                case RestoreSituation::Recreated:
                case RestoreSituation::Adopted:
                    return true;
            }
            return true;
        }();
        if (!restoreNow) continue;
        plan.entries.push_back({candidate.name, candidate.level, candidate.sourceKeyPrefix,
                                target.path, candidate.mode,
                                request.conflictPolicy.value_or(
                                    candidate.conflictPolicy.value_or(ConflictPolicy::KeepSession)),
                                required});
    }

    if (auto problem = validateRestorePlan(plan, roots_)) throw ProblemError(std::move(*problem));
    return plan;
}

}  // namespace aw
