#include "metrics/host_metrics.h"

namespace aw {
namespace {

//! Sync durations: a few milliseconds (nothing changed) to many minutes (a first upload).
std::vector<double> syncBuckets() {
    return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

}  // namespace

HostMetrics::HostMetrics(MetricsRegistry& registry, const std::string& version)
    : http_(registry),
      events_(registry),
      batches_(registry.counter("agent_worker_executor_callback_batches_total",
                                "Executors' callback batches, by outcome (admitted: stored; "
                                "refused: 400/403/404, nothing stored)",
                                {"outcome"})),
      batchesAdmitted_(batches_.with({"admitted"})),
      batchesRefused_(batches_.with({"refused"})),
      records_(registry
                   .counter("agent_worker_executor_callback_records_total",
                            "Output records in admitted callback batches")
                   .with()),
      duplicates_(registry
                      .counter("agent_worker_executor_callback_duplicate_records_total",
                               "Records of admitted batches that were stored before (redelivered "
                               "after a lost answer, a retry or a restart), and not again")
                      .with()),
      syncDuration_(registry.histogram("agent_worker_sync_duration_seconds",
                                       "Workspace syncs through an executor, by reason and outcome",
                                       {"reason", "outcome"}, syncBuckets())),
      syncBytes_(registry.counter("agent_worker_sync_uploaded_bytes_total",
                                  "Bytes uploaded to object storage by successful syncs, by reason",
                                  {"reason"})),
      syncFailures_(registry.counter("agent_worker_sync_failures_total",
                                     "Workspace syncs that failed, by reason", {"reason"})) {
    registry
        .gauge("agent_worker_build_info", "The running agent-host's version; always 1", {"version"})
        .with({version})
        .set(1);
}

void HostMetrics::callbackAdmitted(std::uint64_t records, std::uint64_t duplicates) {
    batchesAdmitted_.inc();
    records_.inc(records);
    duplicates_.inc(duplicates);
}

void HostMetrics::callbackRefused() {
    batchesRefused_.inc();
}

void HostMetrics::syncEnded(const std::string& reason, std::chrono::steady_clock::duration took,
                            std::optional<std::int64_t> uploadedBytes) {
    const std::string shown = reason.empty() ? "unspecified" : reason;
    syncDuration_.with({shown, uploadedBytes ? "succeeded" : "failed"})
        .observe(std::chrono::duration<double>(took).count());
    if (uploadedBytes) {
        syncBytes_.with({shown}).inc(static_cast<std::uint64_t>(*uploadedBytes));
    } else {
        syncFailures_.with({shown}).inc();
    }
}

}  // namespace aw
