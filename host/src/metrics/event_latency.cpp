#include "metrics/event_latency.h"

namespace aw {
namespace {

double secondsSince(EventLatency::Clock::time_point then) {
    return std::chrono::duration<double>(EventLatency::Clock::now() - then).count();
}

}  // namespace

EventLatency::EventLatency(MetricsRegistry& registry)
    : toStored_(registry
                    .histogram("agent_worker_event_store_latency_seconds",
                               "From the executor callback that brought a run's output to the "
                               "events made of it stored",
                               {}, latencyBuckets())
                    .with()),
      toStream_(registry
                    .histogram("agent_worker_event_stream_latency_seconds",
                               "From the executor callback that brought a run's output to the "
                               "events made of it written to the run's SSE subscribers",
                               {}, latencyBuckets())
                    .with()) {}

EventLatency::Run& EventLatency::runOf(const std::string& runId) {
    auto [it, made] = runs_.try_emplace(runId);
    if (made) {
        order_.push_back(runId);
        if (order_.size() > kMostRuns) {
            runs_.erase(order_.front());
            order_.pop_front();
        }
    }
    return runs_[runId];
}

void EventLatency::arrived(const std::vector<std::string>& runIds, Clock::time_point arrival) {
    std::lock_guard lock(mutex_);
    for (const auto& runId : runIds) {
        auto& run = runOf(runId);
        if (!run.unstored) run.unstored = arrival;
    }
}

void EventLatency::withdrawn(const std::vector<std::string>& runIds, Clock::time_point arrival) {
    std::lock_guard lock(mutex_);
    for (const auto& runId : runIds) {
        const auto it = runs_.find(runId);
        if (it != runs_.end() && it->second.unstored == arrival) it->second.unstored.reset();
    }
}

void EventLatency::stored(const std::string& runId, std::int64_t lastSeq) {
    std::lock_guard lock(mutex_);
    const auto it = runs_.find(runId);
    // Events of the host's own (run.started, ...) follow no callback: nothing to time.
    if (it == runs_.end() || !it->second.unstored) return;
    auto& run = it->second;
    toStored_.observe(secondsSince(*run.unstored));
    run.unstreamed.emplace_back(lastSeq, *run.unstored);
    if (run.unstreamed.size() > kMostWaiting) run.unstreamed.pop_front();
    run.unstored.reset();
}

void EventLatency::streamed(const std::string& runId, std::int64_t lastSeq) {
    std::lock_guard lock(mutex_);
    const auto it = runs_.find(runId);
    if (it == runs_.end()) return;
    auto& waiting = it->second.unstreamed;
    while (!waiting.empty() && waiting.front().first <= lastSeq) {
        toStream_.observe(secondsSince(waiting.front().second));
        waiting.pop_front();
    }
}

}  // namespace aw
