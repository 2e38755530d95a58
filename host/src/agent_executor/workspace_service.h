// The executor's side of workspace persistence: restore (and link) a plan's entries from
// the object store, validate required paths, and sync the workspace and every linked
// state slot back, full or incremental (only new and changed files, deletions propagated,
// tracked in a manifest per tree).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <mutex>
#include <string>

#include "agent_worker/core/executor_protocol.h"
#include "agent_worker/core/object_store.h"
#include "agent_worker/core/restore_plan.h"

namespace aw {

struct WorkspaceLayout {
    RestoreRoots roots;              //!< workspace and home directories of this worker
    std::string bucket;              //!< object store bucket of this session
    std::string keyPrefix;           //!< the session's key prefix (`<root>/<tenant>/<session>/`)
    std::filesystem::path stateDir;  //!< the executor's own files (manifest, link targets)
};

class WorkspaceService {
public:
    WorkspaceService(WorkspaceLayout layout, ObjectStore& store);

    //! Copies the plan's `copy` entries into place. Throws ApiError: 422 for a plan that
    //! fails validation, 409 when a `fail` conflict policy meets an existing file.
    RestoreAnswer restore(const nlohmann::json& planJson);
    //! Restores the plan's `link` entries into the state area (`<stateDir>/links/<slot>`),
    //! points their targets at it, and records each slot's source key in links.json so
    //! that sync sends it back.
    LinkAnswer link(const nlohmann::json& planJson);
    //! `{"required_paths": [...]}` (or a whole plan) -> `{"missing_paths": [...]}`.
    ValidateAnswer validate(const nlohmann::json& request);
    //! `full` compares with the store, `incremental` with the manifest of the last sync.
    //! Syncs the workspace and every recorded link slot; the answer's counts are totals,
    //! with `workspace` and `agent_state` breakdowns.
    SyncAnswer sync(const SyncRequest& request);

private:
    RestorePlan checkedPlan(const nlohmann::json& planJson) const;
    //! What restoring trees wrote and kept.
    struct TreeRestore {
        std::int64_t files = 0;
        std::int64_t bytes = 0;
        std::int64_t kept = 0;
    };
    //! Writes the objects under `sourceKey` below `target` per `policy`; adds to `counts`.
    void restoreTree(const std::string& sourceKey, const std::filesystem::path& target,
                     ConflictPolicy policy, const RestorePlan& plan, TreeRestore& counts);
    std::string workspaceKey() const;
    //! `<stateDir>/links.json`: slot -> {name, source_key_prefix, target} of every link made.
    std::filesystem::path linksPath() const;
    //! The recorded links; throws ApiError 500 when the file is corrupt or names a key
    //! outside this session.
    nlohmann::json readLinks() const;

    WorkspaceLayout layout_;
    ObjectStore& store_;
    std::mutex mutex_;  //!< one workspace operation at a time
};

}  // namespace aw
