#include "agent_worker/core/runs/worker_placement.h"

#include "agent_worker/core/workspace_prefix.h"

namespace aw {

std::string WorkerPlacement::workspacePrefix(const std::string& sessionId) const {
    return computeWorkspacePrefix(bucket, rootPrefix, tenantId, sessionId).uri();
}

}  // namespace aw
