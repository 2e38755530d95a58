// The route groups agent-host serves. Each adds its routes to the router; see docs/api.md.
#pragma once

#include "agent_worker/core/repositories.h"
#include "config/host_config.h"
#include "http/router.h"
#include "provider/provider_supervisor.h"

namespace aw {

//! GET /health (liveness) and GET /ready (database reachable; providers reported).
void addHealthRoutes(Router& router, StoreHealth& store, const ProviderSupervisor& providers);

//! GET /v1/sessions/{sid}: the session's worker record.
void addSessionRoutes(Router& router, SessionWorkerRepository& workers);

//! GET /admin/providers, POST /admin/providers/rescan, POST /admin/providers/{name}/restart,
//! POST /admin/providers/{name}/replay.
void addProviderRoutes(Router& router, ProviderSupervisor& supervisor);

//! GET /admin/config: the effective configuration, secrets redacted.
void addAdminRoutes(Router& router, const HostConfig& config);

}  // namespace aw
