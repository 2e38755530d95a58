// agent-host's metrics that are recorded as things happen (see docs/metrics.md): HTTP
// requests, event latency, executor callbacks, workspace syncs, and the build. Those that are
// state (runs, queue, workers, providers) are read at scrape time (api/metrics_routes.cpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "metrics/event_latency.h"
#include "metrics/http_metrics.h"
#include "metrics/metrics_registry.h"

namespace aw {

class HostMetrics {
public:
    //! `version`: agent_worker_build_info's label.
    HostMetrics(MetricsRegistry& registry, const std::string& version);

    HttpMetrics& http() { return http_; }
    EventLatency& events() { return events_; }

    //! An executor's callback batch was answered: admitted (its `records`, of which
    //! `duplicates` had been stored before) or refused.
    void callbackAdmitted(std::uint64_t records, std::uint64_t duplicates);
    void callbackRefused();

    //! A workspace sync through an executor ended: `uploadedBytes` when it succeeded,
    //! nullopt when it failed. `reason`: idle_stop, message.stop (label values).
    void syncEnded(const std::string& reason, std::chrono::steady_clock::duration took,
                   std::optional<std::int64_t> uploadedBytes);

private:
    HttpMetrics http_;
    EventLatency events_;
    MetricFamily<Counter>& batches_;
    Counter& batchesAdmitted_;
    Counter& batchesRefused_;
    Counter& records_;
    Counter& duplicates_;
    MetricFamily<Histogram>& syncDuration_;
    MetricFamily<Counter>& syncBytes_;
    MetricFamily<Counter>& syncFailures_;
};

}  // namespace aw
