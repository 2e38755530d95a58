// The route groups agent-host serves. Each adds its routes to the router; see docs/api.md.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/lifecycle_manager.h"
#include "agent_worker/core/repositories.h"
#include "agent_worker/core/run_store.h"
#include "agent_worker/core/runs/callback_admission.h"
#include "config/host_config.h"
#include "http/router.h"
#include "provider/provider_supervisor.h"

namespace aw {

class HostMetrics;
class MetricsRegistry;
class Maintenance;
class RunEngine;
class RunEventStreams;
class StoreCounts;

//! Something else /ready checks (the object store, ...), under `checks.<name>`.
struct ReadinessCheck {
    std::string name;
    //! Empty when ready; otherwise what is wrong (its code, message and hint are answered).
    std::function<std::optional<Problem>()> problem;
    nlohmann::json details = nlohmann::json::object();  //!< shown either way (no secrets)
};

//! GET /health (liveness) and GET /ready (database reachable, and every check; providers
//! reported).
void addHealthRoutes(Router& router, StoreHealth& store, const ProviderSupervisor& providers,
                     std::vector<ReadinessCheck> checks = {});

//! GET /v1/sessions (the most recently updated first) and GET /v1/sessions/{sid}: the
//! sessions' worker records.
void addSessionRoutes(Router& router, SessionWorkerStore& workers);

//! GET /admin/providers, POST /admin/providers/rescan, POST /admin/providers/{name}/restart,
//! POST /admin/providers/{name}/replay.
void addProviderRoutes(Router& router, ProviderSupervisor& supervisor);

//! GET /metrics: the registry in the Prometheus text format (an admin or metrics token).
void addMetricsRoutes(Router& router, MetricsRegistry& registry);
//! The metrics read at each scrape: runs, queue and workers counted in the database, and
//! the providers' state.
void addStateMetrics(MetricsRegistry& registry, StoreCounts& counts,
                     const ProviderSupervisor& providers);

//! GET /admin/config: the effective configuration, secrets redacted.
void addAdminRoutes(Router& router, const HostConfig& config);

//! Messages, runs (GET /v1/runs lists the newest), events (JSON and SSE), stop, human replies, the
//! run queue and the maintenance passes.
void addRunRoutes(Router& router, RunEngine& engine, RunStore& store, RunQueue& queue,
                  Maintenance& maintenance, RunEventStreams& streams);

//! GET /console and its files (host/console/, embedded at build time): the operator's web
//! page, which speaks only the API above.
void addConsoleRoutes(Router& router);

//! The worker a callback token belongs to; nullopt for an operator's token.
using CallbackIdentify = std::function<std::optional<CallbackCaller>(const std::string& token)>;

//! POST /v1/callbacks/executor: batches admitted by CallbackAdmission as they are delivered.
//! `metrics`: where batches and their event latency are counted (none when null).
void addCallbackRoutes(Router& router, RunEngine& engine, CallbackIdentify identify,
                       HostMetrics* metrics = nullptr);

//! Exchanges an executor's single-use bootstrap token, and the address it reports, for what
//! it needs (its tokens, the S3 credentials) as JSON; nullopt refuses the token.
using BootstrapExchange = std::function<std::optional<nlohmann::json>(const std::string& token,
                                                                      const std::string& address)>;

//! GET /openapi.json: docs/openapi.yaml as JSON.
void addOpenApiRoutes(Router& router);

//! POST /v1/executors/bootstrap (the swarm runtime's executors; docs/swarm-runtime.md).
void addExecutorBootstrapRoutes(Router& router, BootstrapExchange exchange);

}  // namespace aw
