// Tells the live readers of runs' event logs (the SSE fan-out) that a run has new events. It
// carries no events itself: readers read them from the store, so a wake-up that comes twice,
// or for events already read, costs a read and nothing else.
#pragma once

#include <functional>
#include <mutex>
#include <string>

namespace aw {

class EventHub {
public:
    //! The run has new events stored (or has ended).
    void publish(const std::string& runId);
    //! Called with the run's id on each publish (under the hub's lock: keep it short and
    //! never publish from it). Null to stop.
    void setListener(std::function<void(const std::string& runId)> listener);

private:
    std::mutex mutex_;
    std::function<void(const std::string&)> listener_;
};

}  // namespace aw
