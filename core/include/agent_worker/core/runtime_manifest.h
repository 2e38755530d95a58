// The runtime manifest: what a worker needs restored, by level, per deployment, extended
// by each provider's state paths. The restore planner turns it into a RestorePlan.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aw {

//! How much of a session is brought back into a worker. Each level includes the ones
//! below it. See docs/restore-plan.md.
enum class RestoreLevel {
    None = 0,        //!< L0 `none`: nothing (brand-new session)
    Workspace = 1,   //!< L1 `workspace`: the session's project files
    AgentState = 2,  //!< L2 `agent_state`: provider CLIs' session stores, so resume works
    Caches = 3,      //!< L3 `caches`: declared dependency and tool caches
    Full = 4,        //!< L4 `full`: everything in the manifest, extra declared paths too
};

//! How an entry lands in the worker.
enum class RestoreMode {
    Copy,  //!< files are copied into the target
    Link,  //!< the executor keeps the files in its synced state area and links the target
           //!< to them, so a CLI writing its home-directory store writes into synced files
};

//! What happens when a file to restore already exists in the worker.
enum class ConflictPolicy {
    KeepSession,     //!< the worker's file wins (default: never overwrite newer work)
    PreferSnapshot,  //!< the snapshot's file replaces it
    Fail,            //!< the restore fails, naming the file
};

std::string_view toString(RestoreLevel level);
std::optional<RestoreLevel> parseRestoreLevel(std::string_view name);
//! `L0`..`L4`, as operators say it.
std::string_view shortName(RestoreLevel level);
std::string_view toString(RestoreMode mode);
std::optional<RestoreMode> parseRestoreMode(std::string_view name);
std::string_view toString(ConflictPolicy policy);
std::optional<ConflictPolicy> parseConflictPolicy(std::string_view name);

//! Entry names reserved for the storage layout (provider state lives under this folder).
inline constexpr std::string_view kAgentStateFolder = "agent-state";

//! One thing the deployment wants in its workers.
//!
//! Targets: `.` or a relative path is inside the workspace root; `~` or `~/...` is inside
//! the home root; an absolute path must still lie inside one of them. Checked when a plan
//! is made (RestorePlanner), since the roots are known only then.
struct ManifestEntry {
    std::string name;  //!< identifier, unique; names the entry's folder in storage
    RestoreLevel level = RestoreLevel::Workspace;
    std::string target;
    RestoreMode mode = RestoreMode::Copy;
    std::optional<ConflictPolicy> conflictPolicy;  //!< unset: keep_session
    bool required = false;  //!< a run is blocked when this path is missing after restore

    bool operator==(const ManifestEntry&) const = default;
};

//! A path a provider's CLI keeps its sessions in (e.g. `~/.claude`), restored at L2 as a
//! link so `resume` works in a recreated worker.
struct ProviderStatePath {
    std::string name;  //!< identifier, unique within the provider
    std::string target;

    bool operator==(const ProviderStatePath&) const = default;
};

//! The whole manifest.
struct RuntimeManifest {
    static constexpr int kVersion = 1;

    std::vector<ManifestEntry> entries;
    //! Provider name -> its state paths.
    std::map<std::string, std::vector<ProviderStatePath>> providerStatePaths;
    //! Paths no restore may write, on top of the built-in ones (see builtinProtectedPaths).
    std::vector<std::string> protectedPaths;

    //! Adds a provider's state paths (from its plugin facts). A name the deployment already
    //! declared for that provider keeps the deployment's target: configuration wins.
    void mergeProviderStatePaths(const std::string& provider,
                                 const std::vector<ProviderStatePath>& paths);

    bool operator==(const RuntimeManifest&) const = default;
};

//! The manifest as JSON (docs/restore-plan.md, "Runtime manifest").
nlohmann::json toJson(const RuntimeManifest& manifest);

//! Reads and checks a manifest: version 1, known fields only, known enum names, entry
//! names valid and unique, `none` not used as an entry level. Throws ProblemError
//! `invalid_runtime_manifest` naming the field at fault.
RuntimeManifest runtimeManifestFromJson(const nlohmann::json& json);
RuntimeManifest parseRuntimeManifest(std::string_view text);

//! Reads a provider's `{"state_paths": [{"name", "target"}]}` facts with the same rules.
std::vector<ProviderStatePath> providerStatePathsFromJson(const nlohmann::json& json);

}  // namespace aw
