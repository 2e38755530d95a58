// Tells the live readers of runs' event logs (the SSE fan-out) that a run has new events,
// and hands them the events when the publisher has them, so readers that follow the run
// need not read back what was just written. A publish without events (the run's status
// changed, or events were stored by another path) sends readers to the store; a wake-up that
// comes twice, or for events already read, costs a read and nothing else.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "agent_worker/core/run_events.h"

namespace aw {

class EventHub {
public:
    using Listener =
        std::function<void(const std::string& runId, const std::vector<StoredEvent>& events)>;

    //! The run has new events stored (`events`: those just stored, in seq order, when the
    //! publisher has them), or has ended.
    void publish(const std::string& runId, const std::vector<StoredEvent>& events = {});
    //! Called on each publish (under the hub's lock: keep it short and never publish from
    //! it). Null to stop.
    void setListener(Listener listener);

private:
    std::mutex mutex_;
    Listener listener_;
};

}  // namespace aw
