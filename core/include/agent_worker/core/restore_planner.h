// Turns the runtime manifest into a restore plan for one session, by level and by where the
// worker stands (new, restarted with its files, recreated, adopted, resuming a provider).
#pragma once

#include <optional>
#include <string>

#include "agent_worker/core/restore_paths.h"
#include "agent_worker/core/restore_plan.h"
#include "agent_worker/core/runtime_manifest.h"
#include "agent_worker/core/workspace_prefix.h"

namespace aw {

//! What one activation asks for.
struct RestoreRequest {
    RestoreLevel level = RestoreLevel::Workspace;
    RestoreSituation situation = RestoreSituation::NewWorker;
    //! The provider whose CLI session the run resumes: its state paths are restored even
    //! below L2 and become required, since resuming without them cannot work.
    std::optional<std::string> resumeProvider;
    //! Overrides every entry's policy (e.g. an operator rolling back to the snapshot).
    std::optional<ConflictPolicy> conflictPolicy;
};

//! Makes validated restore plans from one manifest for workers with the same roots.
class RestorePlanner {
public:
    //! Throws ProblemError `invalid_restore_roots`, or `invalid_runtime_manifest` when a
    //! configured protected path cannot be resolved.
    RestorePlanner(RuntimeManifest manifest, RestoreRoots roots);

    //! The plan for `sessionId` stored under `prefix`:
    //! - entries of the manifest up to `request.level` (provider state paths from L2, as
    //!   links), plus the resumed provider's state paths whatever the level;
    //! - new_worker: only link entries (storage holds nothing yet, but the links must exist
    //!   so the CLI's state is written into the synced state area), none required;
    //!   stopped_with_files: only link entries (the sandbox's own files are current,
    //!   copying would bring back what the user deleted);
    //!   recreated and adopted: every selected entry;
    //! - conflict policy: the request's, else the entry's, else keep_session.
    //! Throws ProblemError `restore_plan_rejected` naming the entry when a target escapes
    //! the roots or hits a protected path.
    RestorePlan plan(const std::string& sessionId, const WorkspacePrefix& prefix,
                     const RestoreRequest& request) const;

    const RuntimeManifest& manifest() const { return manifest_; }
    const RestoreRoots& roots() const { return roots_; }

private:
    RuntimeManifest manifest_;
    RestoreRoots roots_;
    std::vector<std::string> protectedPaths_;  //!< resolved: configured plus built-ins
};

}  // namespace aw
