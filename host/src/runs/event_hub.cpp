#include "runs/event_hub.h"

namespace aw {

void EventHub::publish(const std::string& runId, const std::vector<StoredEvent>& events) {
    std::lock_guard lock(mutex_);  // the listener is not swapped away while it runs
    if (listener_) listener_(runId, events);
}

void EventHub::setListener(Listener listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

}  // namespace aw
