#include "agent_worker/core/restore_plan.h"

#include "agent_worker/core/identifiers.h"
#include "restore_enum_tables.h"
#include "agent_worker/core/json_access.h"

namespace aw {
namespace {

constexpr EnumNameTable<RestoreSituation, 4> kRestoreSituationNames{{
    {RestoreSituation::NewWorker, "new_worker"},
    {RestoreSituation::StoppedWithFiles, "stopped_with_files"},
    {RestoreSituation::Recreated, "recreated"},
    {RestoreSituation::Adopted, "adopted"},
}};

constexpr JsonDocumentKind kPlanDocument{
    "invalid_restore_plan",
    "the host and the executor disagree on the restore plan format; see docs/restore-plan.md "
    "and run matching versions"};

constexpr JsonDocumentKind kValidationDocument{
    "invalid_restore_validation",
    "the executor's validate answer must be {\"missing_paths\": [...]}; run matching versions"};

Problem rejected(std::string message) {
    return Problem{"restore_plan_rejected", std::move(message),
                   "fix the runtime manifest entry named above: targets must stay inside the "
                   "workspace and home roots and away from protected paths"};
}

std::vector<std::string> readStringList(StrictObject& object, std::string_view key) {
    const nlohmann::json& list = object.requiredArray(key);
    std::vector<std::string> values;
    for (std::size_t i = 0; i < list.size(); ++i) {
        if (!list[i].is_string())
            object.fail(indexedPath(object.pathOf(key), i) + " must be a string");
        values.push_back(list[i].get<std::string>());
    }
    return values;
}

//! Why `keys` (the part of a key prefix after a known-good start) is unsafe; empty if fine.
std::optional<std::string> keySegmentsFault(std::string_view keys) {
    if (keys.empty() || keys.back() != '/') return std::string("does not end with '/'");
    keys.remove_suffix(1);
    std::size_t start = 0;
    while (start <= keys.size()) {
        const std::size_t end = std::min(keys.find('/', start), keys.size());
        if (auto fault = identifierFault(keys.substr(start, end - start))) {
            std::string text = "has a segment \"";
            text += keys.substr(start, end - start);
            text += "\" that ";
            text += *fault;
            return text;
        }
        start = end + 1;
    }
    return std::nullopt;
}

bool isNormalAbsolute(std::string_view path) {
    return !path.empty() && path.front() == '/' && lexicallyNormalAbsolute(path) == path;
}

std::string inQuotes(std::string_view text) {
    std::string result = "\"";
    result += text;
    result += '"';
    return result;
}

}  // namespace

std::string_view toString(RestoreSituation situation) {
    return nameIn(kRestoreSituationNames, situation);
}
std::optional<RestoreSituation> parseRestoreSituation(std::string_view name) {
    return parseIn(kRestoreSituationNames, name);
}

nlohmann::json toJson(const RestorePlan& plan) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& entry : plan.entries) {
        entries.push_back({{"name", entry.name},
                           {"level", toString(entry.level)},
                           {"source_key_prefix", entry.sourceKeyPrefix},
                           {"target_path", entry.targetPath},
                           {"mode", toString(entry.mode)},
                           {"conflict_policy", toString(entry.conflictPolicy)},
                           {"required", entry.required}});
    }
    return {{"version", RestorePlan::kVersion},
            {"session_id", plan.sessionId},
            {"bucket", plan.bucket},
            {"key_prefix", plan.keyPrefix},
            {"level", toString(plan.level)},
            {"situation", toString(plan.situation)},
            {"entries", std::move(entries)},
            {"required_paths", plan.requiredPaths},
            {"protected_paths", plan.protectedPaths}};
}

RestorePlan restorePlanFromJson(const nlohmann::json& json) {
    StrictObject root(kPlanDocument, json, "");
    const std::int64_t version = root.requiredInteger("version");
    if (version != RestorePlan::kVersion) {
        root.fail("version is " + std::to_string(version) + ", this build reads version " +
                  std::to_string(RestorePlan::kVersion));
    }
    RestorePlan plan;
    plan.sessionId = root.requiredString("session_id");
    plan.bucket = root.requiredString("bucket");
    plan.keyPrefix = root.requiredString("key_prefix");
    plan.level = root.requiredEnum("level", kRestoreLevelNames);
    plan.situation = root.requiredEnum("situation", kRestoreSituationNames);
    const nlohmann::json& entries = root.requiredArray("entries");
    for (std::size_t i = 0; i < entries.size(); ++i) {
        StrictObject item(kPlanDocument, entries[i], indexedPath("entries", i));
        RestorePlanEntry entry;
        entry.name = item.requiredString("name");
        entry.level = item.requiredEnum("level", kRestoreLevelNames);
        entry.sourceKeyPrefix = item.requiredString("source_key_prefix");
        entry.targetPath = item.requiredString("target_path");
        entry.mode = item.requiredEnum("mode", kRestoreModeNames);
        entry.conflictPolicy = item.requiredEnum("conflict_policy", kConflictPolicyNames);
        entry.required = item.requiredBool("required");
        item.finish();
        plan.entries.push_back(std::move(entry));
    }
    plan.requiredPaths = readStringList(root, "required_paths");
    plan.protectedPaths = readStringList(root, "protected_paths");
    root.finish();
    return plan;
}

RestorePlan parseRestorePlan(std::string_view text) {
    return restorePlanFromJson(parseJsonText(kPlanDocument, "the restore plan", text));
}

std::optional<Problem> validateRestorePlan(const RestorePlan& plan, const RestoreRoots& roots) {
    if (auto problem = checkRestoreRoots(roots)) return problem;
    if (const auto fault = identifierFault(plan.sessionId)) {
        return rejected("restore plan session id " + inQuotes(plan.sessionId) + " " + *fault);
    }
    if (plan.bucket.empty()) return rejected("restore plan has no bucket");
    const std::string sessionTail = "/" + plan.sessionId + "/";
    if (const auto fault = keySegmentsFault(plan.keyPrefix)) {
        return rejected("restore plan key prefix " + inQuotes(plan.keyPrefix) + " " + *fault);
    }
    if (!plan.keyPrefix.ends_with(sessionTail)) {
        return rejected("restore plan key prefix " + inQuotes(plan.keyPrefix) +
                        " does not end with <tenant>/" + plan.sessionId + "/");
    }

    std::vector<std::string> protectedPaths;
    for (const auto& path : plan.protectedPaths) {
        if (!isNormalAbsolute(path)) {
            return rejected("restore plan protected path " + inQuotes(path) +
                            " is not absolute and normalised");
        }
        protectedPaths.push_back(path);
    }
    // The built-ins hold whatever the plan says: a plan cannot switch them off.
    for (const auto& path : builtinProtectedPaths()) {
        protectedPaths.push_back(resolveRestorePath(path, roots, false).path);
    }

    std::set<std::string> targets;
    for (const auto& entry : plan.entries) {
        const std::string label = "restore plan entry " + inQuotes(entry.name);
        if (entry.name.empty()) return rejected("a restore plan entry has no name");
        if (!entry.sourceKeyPrefix.starts_with(plan.keyPrefix) ||
            entry.sourceKeyPrefix.size() == plan.keyPrefix.size()) {
            return rejected(label + ": source key prefix " + inQuotes(entry.sourceKeyPrefix) +
                            " is not inside the session's prefix " + inQuotes(plan.keyPrefix));
        }
        if (const auto fault = keySegmentsFault(
                std::string_view(entry.sourceKeyPrefix).substr(plan.keyPrefix.size()))) {
            return rejected(label + ": source key prefix " + inQuotes(entry.sourceKeyPrefix) + " " +
                            *fault);
        }
        if (!isNormalAbsolute(entry.targetPath)) {
            return rejected(label + ": target " + inQuotes(entry.targetPath) +
                            " is not absolute and normalised");
        }
        if (!isSameOrInside(entry.targetPath, roots.workspaceRoot) &&
            !isSameOrInside(entry.targetPath, roots.homeRoot)) {
            return rejected(label + ": target " + entry.targetPath +
                            " is outside the workspace root " + roots.workspaceRoot +
                            " and the home root " + roots.homeRoot);
        }
        for (const auto& protectedPath : protectedPaths) {
            if (isSameOrInside(entry.targetPath, protectedPath)) {
                return rejected(label + ": target " + entry.targetPath +
                                " is inside the protected path " + protectedPath);
            }
        }
        if (!targets.insert(entry.targetPath).second) {
            return rejected(label + ": target " + entry.targetPath +
                            " is also the target of another entry");
        }
    }
    for (const auto& path : plan.requiredPaths) {
        if (!isNormalAbsolute(path) ||
            (!isSameOrInside(path, roots.workspaceRoot) && !isSameOrInside(path, roots.homeRoot))) {
            return rejected("restore plan required path " + inQuotes(path) +
                            " is not a normalised path inside the workspace or home root");
        }
    }
    return std::nullopt;
}

std::optional<Problem> RestoreValidation::problem() const {
    if (missingPaths.empty()) return std::nullopt;
    std::string message = "the workspace restore left required paths missing: ";
    for (std::size_t i = 0; i < missingPaths.size(); ++i) {
        if (i > 0) message += ", ";
        message += missingPaths[i];
    }
    return Problem{"restore_validation_failed", std::move(message),
                   "check that the session's last sync succeeded (GET /v1/sessions/{sid}: "
                   "last_sync_status) and that the object store holds its files; the run was "
                   "not started so nothing was changed"};
}

RestoreValidation checkRequiredPaths(const RestorePlan& plan,
                                     const std::set<std::string>& existingPaths) {
    RestoreValidation validation;
    for (const auto& path : plan.requiredPaths) {
        if (!existingPaths.contains(path)) validation.missingPaths.push_back(path);
    }
    return validation;
}

nlohmann::json toJson(const RestoreValidation& validation) {
    return {{"missing_paths", validation.missingPaths}};
}

RestoreValidation restoreValidationFromJson(const nlohmann::json& json) {
    StrictObject root(kValidationDocument, json, "");
    RestoreValidation validation{readStringList(root, "missing_paths")};
    root.finish();
    return validation;
}

}  // namespace aw
