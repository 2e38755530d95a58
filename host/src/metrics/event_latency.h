// How long an executor's output takes to become events: from the callback that brought it
// to the events stored, and on to the run's SSE subscribers. Runs are told apart by id;
// what is timed is the earliest callback of a run not yet followed by stored events, so
// one lock per callback batch, per append and per stream write, never per event.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "metrics/metrics_registry.h"

namespace aw {

class EventLatency {
public:
    using Clock = std::chrono::steady_clock;

    explicit EventLatency(MetricsRegistry& registry);

    //! A callback batch with output of `runIds` arrived at `arrival`.
    void arrived(const std::vector<std::string>& runIds, Clock::time_point arrival);
    //! The batch that arrived at `arrival` was refused: it brought nothing to time.
    void withdrawn(const std::vector<std::string>& runIds, Clock::time_point arrival);
    //! `runId`'s events up to `lastSeq` were stored just now.
    void stored(const std::string& runId, std::int64_t lastSeq);
    //! `runId`'s events up to `lastSeq` were just written to its SSE subscribers.
    void streamed(const std::string& runId, std::int64_t lastSeq);

    //! Runs followed at once; past it the oldest-made entry is dropped (a run nobody
    //! streams keeps its stored batches until then).
    static constexpr std::size_t kMostRuns = 4096;
    //! Stored batches waiting for a stream write, per run.
    static constexpr std::size_t kMostWaiting = 64;

private:
    struct Run {
        std::optional<Clock::time_point> unstored;  //!< earliest callback not yet stored
        std::deque<std::pair<std::int64_t, Clock::time_point>>
            unstreamed;  //!< (last seq, callback)
    };
    Run& runOf(const std::string& runId);

    Histogram& toStored_;
    Histogram& toStream_;
    std::mutex mutex_;
    std::unordered_map<std::string, Run> runs_;
    std::deque<std::string> order_;  //!< runs_ keys, oldest first
};

}  // namespace aw
