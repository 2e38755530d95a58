// The restore plan: what the executor restores into a worker before a run, and the check of
// required paths afterwards. The JSON form is the contract with agent-executor
// (docs/restore-plan.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/restore_paths.h"
#include "agent_worker/core/runtime_manifest.h"

namespace aw {

//! Where the worker stands when it is about to run; decides which entries a plan needs.
enum class RestoreSituation {
    NewWorker,         //!< brand-new session: storage holds nothing yet
    StoppedWithFiles,  //!< restarted sandbox: its own files are current, only links redone
    Recreated,         //!< new sandbox for a session whose files are in storage
    Adopted,           //!< sandbox exists but whether its restore finished is unknown: restore all,
                       //!< with the worker's files winning under keep_session
};

std::string_view toString(RestoreSituation situation);
std::optional<RestoreSituation> parseRestoreSituation(std::string_view name);

//! One thing to restore.
struct RestorePlanEntry {
    std::string name;  //!< the manifest entry (`workspace`, `claude-code/claude`), for messages
    RestoreLevel level = RestoreLevel::Workspace;
    std::string sourceKeyPrefix;  //!< object keys to restore, under the plan's key prefix
    std::string targetPath;       //!< absolute and normalised, inside the roots
    RestoreMode mode = RestoreMode::Copy;
    ConflictPolicy conflictPolicy = ConflictPolicy::KeepSession;
    bool required = false;

    bool operator==(const RestorePlanEntry&) const = default;
};

//! Everything the executor needs to restore a session into its worker.
struct RestorePlan {
    static constexpr int kVersion = 1;

    std::string sessionId;
    std::string bucket;
    std::string keyPrefix;  //!< the session's key prefix (WorkspacePrefix::keyPrefix)
    RestoreLevel level = RestoreLevel::None;
    RestoreSituation situation = RestoreSituation::NewWorker;
    std::vector<RestorePlanEntry> entries;
    //! Paths that must exist after restore and link, or the run is blocked. Can name paths
    //! of entries not restored this time (a restarted worker keeps its own files).
    std::vector<std::string> requiredPaths;
    //! Absolute paths the executor must never write, also when restoring into a directory
    //! that contains them.
    std::vector<std::string> protectedPaths;

    bool operator==(const RestorePlan&) const = default;
};

//! The plan as the executor reads it.
nlohmann::json toJson(const RestorePlan& plan);

//! Reads a plan strictly: every field present, no unknown field, known enum names, version
//! 1. Throws ProblemError `invalid_restore_plan` naming the field. Does not check paths
//! against roots: validateRestorePlan() does, with the worker's roots.
RestorePlan restorePlanFromJson(const nlohmann::json& json);
RestorePlan parseRestorePlan(std::string_view text);

//! Checks a plan before it is sent (host) and before it is obeyed (executor): the key
//! prefix is a session prefix ending in the session id; each source lies under it; each
//! target is absolute, normalised, inside the roots, not inside or equal to a protected
//! path (the plan's own list plus the built-ins); no two entries share a target; required
//! paths are normalised and inside the roots. Empty when fine; otherwise Problem
//! `restore_plan_rejected` naming the offending entry.
std::optional<Problem> validateRestorePlan(const RestorePlan& plan, const RestoreRoots& roots);

//! The outcome of checking a plan's required paths after restore and link.
struct RestoreValidation {
    std::vector<std::string> missingPaths;

    bool blocksRun() const { return !missingPaths.empty(); }
    //! Problem `restore_validation_failed` listing the missing paths; empty when none miss.
    std::optional<Problem> problem() const;

    bool operator==(const RestoreValidation&) const = default;
};

//! Which of the plan's required paths are not among `existingPaths` (as the executor found
//! them), in the plan's order.
RestoreValidation checkRequiredPaths(const RestorePlan& plan,
                                     const std::set<std::string>& existingPaths);

//! `{"missing_paths": [...]}`: the executor's answer to `validate`.
nlohmann::json toJson(const RestoreValidation& validation);
//! Throws ProblemError `invalid_restore_validation`.
RestoreValidation restoreValidationFromJson(const nlohmann::json& json);

}  // namespace aw
