// The route groups agent-host serves. Each adds its routes to the router; see docs/api.md.
#pragma once

#include "agent_worker/core/repositories.h"
#include "config/host_config.h"
#include "http/router.h"

namespace aw {

//! GET /health (liveness) and GET /ready (database reachable).
void addHealthRoutes(Router& router, StoreHealth& store);

//! GET /v1/sessions/{sid}: the session's worker record.
void addSessionRoutes(Router& router, SessionWorkerRepository& workers);

//! GET /admin/config: the effective configuration, secrets redacted.
void addAdminRoutes(Router& router, const HostConfig& config);

}  // namespace aw
