// Where a session's worker lives and where its workspace is stored: the tenant, the
// worker runtime and the object store naming (bucket, root prefix) its prefix is computed
// from. Shared by submission (the worker record of a new session) and preparation.
#pragma once

#include <string>

namespace aw {

struct WorkerPlacement {
    std::string tenantId = "default";
    std::string runtime = "local";
    std::string bucket = "agent-worker";
    std::string rootPrefix = "sessions";

    //! The session's workspace prefix URI (computeWorkspacePrefix).
    std::string workspacePrefix(const std::string& sessionId) const;
};

}  // namespace aw
