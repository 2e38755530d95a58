// GET /metrics, and the metrics read when it is scraped: what the database holds (runs, the
// queue, workers) and the providers' state. Everything else is recorded as it happens
// (metrics/host_metrics.h).
#include "agent_worker/core/time_format.h"
#include "api/routes.h"
#include "db/store_counts.h"
#include "metrics/metrics_registry.h"

namespace aw {
namespace {

std::vector<GaugeSample> samplesOf(const std::map<std::string, std::int64_t>& byLabel) {
    std::vector<GaugeSample> samples;
    for (const auto& [label, count] : byLabel) {
        samples.push_back({{label}, static_cast<double>(count)});
    }
    return samples;
}

//! A provider's label: its name once its handshake gave one, else its plugin file.
std::string providerLabel(const ProviderSnapshot& provider) {
    return provider.name.value_or(provider.file);
}

}  // namespace

void addMetricsRoutes(Router& router, MetricsRegistry& registry) {
    router.add({"GET", "/metrics", Scope::Metrics, [&registry](const HttpRequest&) {
                    HttpResponse response;
                    response.contentType = "text/plain; version=0.0.4; charset=utf-8";
                    response.body = registry.render();
                    return response;
                }});
}

void addStateMetrics(MetricsRegistry& registry, StoreCounts& counts,
                     const ProviderSupervisor& providers) {
    registry.gaugeAtScrape("agent_worker_runs", "Runs in the database, by status", {"status"},
                           [&counts] { return samplesOf(counts.runsByStatus()); });
    registry.gaugeAtScrape("agent_worker_queue_entries",
                           "Entries of the run queue not yet finished, by status", {"status"},
                           [&counts] { return samplesOf(counts.queueEntriesByStatus()); });
    registry.gaugeAtScrape(
        "agent_worker_queue_oldest_ready_age_seconds",
        "How long the oldest queue entry that is ready to run has waited since it became "
        "ready; 0 when none is",
        {}, [&counts] {
            const auto age = counts.oldestReadyAgeMs(unixMillisNow());
            return std::vector<GaugeSample>{{{}, age ? static_cast<double>(*age) / 1000.0 : 0.0}};
        });
    registry.gaugeAtScrape("agent_worker_workers", "Session workers, by state", {"state"},
                           [&counts] { return samplesOf(counts.workersByStatus()); });
    registry.gaugeAtScrape(
        "agent_worker_providers", "Provider plugin files, by status", {"status"}, [&providers] {
            std::map<std::string, std::int64_t> byStatus;
            for (const auto status :
                 {ProviderStatus::Starting, ProviderStatus::Healthy, ProviderStatus::Restarting,
                  ProviderStatus::Degraded, ProviderStatus::Failed}) {
                byStatus[toString(status)] = 0;  // every status shown, 0 included
            }
            for (const auto& provider : providers.list()) ++byStatus[toString(provider.status)];
            return samplesOf(byStatus);
        });
    registry.counterAtScrape(
        "agent_worker_provider_restarts_total",
        "Restarts of a provider's process since it was loaded (an operator's restart clears it)",
        {"provider"}, [&providers] {
            std::vector<GaugeSample> samples;
            for (const auto& provider : providers.list()) {
                samples.push_back(
                    {{providerLabel(provider)}, static_cast<double>(provider.restarts)});
            }
            return samples;
        });
    registry.gaugeAtScrape("agent_worker_provider_in_flight_requests",
                           "Requests sent to a provider's current process and not yet answered",
                           {"provider"}, [&providers] {
                               std::vector<GaugeSample> samples;
                               for (const auto& provider : providers.list()) {
                                   samples.push_back({{providerLabel(provider)},
                                                      static_cast<double>(provider.inFlight)});
                               }
                               return samples;
                           });
}

}  // namespace aw
