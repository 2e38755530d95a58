#include "agent_worker/core/runtime_manifest.h"

#include <algorithm>
#include <set>

#include "agent_worker/core/identifiers.h"
#include "restore_enum_tables.h"
#include "agent_worker/core/json_access.h"

namespace aw {
namespace {

constexpr JsonDocumentKind kManifestDocument{
    "invalid_runtime_manifest",
    "fix the runtime manifest; docs/restore-plan.md lists its fields and allowed values"};

constexpr EnumNameTable<RestoreLevel, 5> kRestoreLevelShortNames{{
    {RestoreLevel::None, "L0"},
    {RestoreLevel::Workspace, "L1"},
    {RestoreLevel::AgentState, "L2"},
    {RestoreLevel::Caches, "L3"},
    {RestoreLevel::Full, "L4"},
}};

void checkName(const StrictObject& object, std::string_view field, const std::string& name) {
    if (const auto fault = identifierFault(name)) {
        object.fail(object.pathOf(field) + " \"" + name + "\" " + *fault);
    }
}

void checkTargetText(const StrictObject& object, const std::string& target) {
    if (target.empty()) object.fail(object.pathOf("target") + " is empty");
    for (char c : target) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            object.fail(object.pathOf("target") + " contains a control character");
        }
    }
}

std::vector<ProviderStatePath> readStatePaths(const nlohmann::json& json, const std::string& path) {
    StrictObject provider(kManifestDocument, json, path);
    const nlohmann::json& list = provider.requiredArray("state_paths");
    provider.finish();
    std::vector<ProviderStatePath> paths;
    std::set<std::string> names;
    for (std::size_t i = 0; i < list.size(); ++i) {
        StrictObject item(kManifestDocument, list[i],
                          indexedPath(provider.pathOf("state_paths"), i));
        ProviderStatePath statePath{item.requiredString("name"), item.requiredString("target")};
        item.finish();
        checkName(item, "name", statePath.name);
        checkTargetText(item, statePath.target);
        if (!names.insert(statePath.name).second) {
            item.fail(item.pathOf("name") + " \"" + statePath.name + "\" is declared twice");
        }
        paths.push_back(std::move(statePath));
    }
    return paths;
}

}  // namespace

std::string_view toString(RestoreLevel level) {
    return nameIn(kRestoreLevelNames, level);
}
std::optional<RestoreLevel> parseRestoreLevel(std::string_view name) {
    return parseIn(kRestoreLevelNames, name);
}
std::string_view shortName(RestoreLevel level) {
    return nameIn(kRestoreLevelShortNames, level);
}
std::string_view toString(RestoreMode mode) {
    return nameIn(kRestoreModeNames, mode);
}
std::optional<RestoreMode> parseRestoreMode(std::string_view name) {
    return parseIn(kRestoreModeNames, name);
}
std::string_view toString(ConflictPolicy policy) {
    return nameIn(kConflictPolicyNames, policy);
}
std::optional<ConflictPolicy> parseConflictPolicy(std::string_view name) {
    return parseIn(kConflictPolicyNames, name);
}

void RuntimeManifest::mergeProviderStatePaths(const std::string& provider,
                                              const std::vector<ProviderStatePath>& paths) {
    auto& declared = providerStatePaths[provider];
    for (const auto& path : paths) {
        const bool known = std::any_of(declared.begin(), declared.end(), [&](const auto& existing) {
            return existing.name == path.name;
        });
        if (!known) declared.push_back(path);
    }
}

nlohmann::json toJson(const RuntimeManifest& manifest) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& entry : manifest.entries) {
        nlohmann::json item{{"name", entry.name},
                            {"level", toString(entry.level)},
                            {"target", entry.target},
                            {"mode", toString(entry.mode)},
                            {"required", entry.required}};
        if (entry.conflictPolicy) item["conflict_policy"] = toString(*entry.conflictPolicy);
        entries.push_back(std::move(item));
    }
    nlohmann::json providers = nlohmann::json::object();
    for (const auto& [provider, paths] : manifest.providerStatePaths) {
        nlohmann::json statePaths = nlohmann::json::array();
        for (const auto& path : paths) {
            statePaths.push_back({{"name", path.name}, {"target", path.target}});
        }
        providers[provider] = {{"state_paths", std::move(statePaths)}};
    }
    return {{"version", RuntimeManifest::kVersion},
            {"entries", std::move(entries)},
            {"providers", std::move(providers)},
            {"protected_paths", manifest.protectedPaths}};
}

RuntimeManifest runtimeManifestFromJson(const nlohmann::json& json) {
    StrictObject root(kManifestDocument, json, "");
    const std::int64_t version = root.requiredInteger("version");
    if (version != RuntimeManifest::kVersion) {
        root.fail("version is " + std::to_string(version) + ", this host reads version " +
                  std::to_string(RuntimeManifest::kVersion));
    }
    RuntimeManifest manifest;
    const nlohmann::json& entries = root.requiredArray("entries");
    std::set<std::string> names;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        StrictObject item(kManifestDocument, entries[i], indexedPath("entries", i));
        ManifestEntry entry;
        entry.name = item.requiredString("name");
        entry.level = item.requiredEnum("level", kRestoreLevelNames);
        entry.target = item.requiredString("target");
        entry.mode = item.optionalEnum("mode", kRestoreModeNames).value_or(RestoreMode::Copy);
        entry.conflictPolicy = item.optionalEnum("conflict_policy", kConflictPolicyNames);
        entry.required = item.optionalBool("required", false);
        item.finish();
        checkName(item, "name", entry.name);
        if (entry.name == kAgentStateFolder) {
            item.fail(item.pathOf("name") + " \"" + entry.name +
                      "\" is reserved for provider state; choose another name");
        }
        if (!names.insert(entry.name).second) {
            item.fail(item.pathOf("name") + " \"" + entry.name + "\" is declared twice");
        }
        if (entry.level == RestoreLevel::None) {
            item.fail(item.pathOf("level") +
                      " is \"none\"; an entry needs a level from workspace to full");
        }
        checkTargetText(item, entry.target);
        manifest.entries.push_back(std::move(entry));
    }
    if (const nlohmann::json* providers = root.optionalObject("providers")) {
        for (const auto& [provider, facts] : providers->items()) {
            const std::string path = "providers." + provider;
            if (const auto fault = identifierFault(provider)) {
                throwJsonProblem(kManifestDocument, path + ": provider name " + *fault);
            }
            manifest.providerStatePaths[provider] = readStatePaths(facts, path);
        }
    }
    if (const nlohmann::json* paths = root.optionalArray("protected_paths")) {
        for (std::size_t i = 0; i < paths->size(); ++i) {
            const nlohmann::json& path = (*paths)[i];
            if (!path.is_string() || path.get<std::string>().empty()) {
                root.fail(indexedPath("protected_paths", i) + " must be a non-empty string");
            }
            manifest.protectedPaths.push_back(path.get<std::string>());
        }
    }
    root.finish();
    return manifest;
}

RuntimeManifest parseRuntimeManifest(std::string_view text) {
    return runtimeManifestFromJson(parseJsonText(kManifestDocument, "the runtime manifest", text));
}

std::vector<ProviderStatePath> providerStatePathsFromJson(const nlohmann::json& json) {
    return readStatePaths(json, "provider facts");
}

}  // namespace aw
