// Wakes live readers of a run's event log (SSE streams, the dispatcher waiting for a run to
// end) when new events are stored. It carries no events itself: readers read them from the
// store, so a reader on another replica, or one that missed a wake-up, only waits longer.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace aw {

class EventHub {
public:
    //! The run's events up to `lastSeq` are stored.
    void publish(const std::string& runId, std::int64_t lastSeq);
    //! Waits until the run has an event after `afterSeq` (as published here), `timeout`
    //! passes or the hub closes; true when there is one.
    bool waitForMore(const std::string& runId, std::int64_t afterSeq,
                     std::chrono::milliseconds timeout);
    //! Called (under the hub's lock: keep it short) with the run's id each time it has new
    //! events; the event streams' fan-out. Null to stop.
    void setListener(std::function<void(const std::string& runId)> listener);
    //! Forgets a finished run (readers fall back to the store).
    void forget(const std::string& runId);

    //! The host is stopping: wakes every waiter, and waits return at once from now on, so
    //! event streams end instead of holding the shutdown for a keep-alive interval.
    void close();
    bool closed() const { return closed_.load(); }

private:
    std::atomic<bool> closed_{false};
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, std::int64_t> lastSeq_;
    std::function<void(const std::string&)> listener_;
};

}  // namespace aw
