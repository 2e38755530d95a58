#include "runs/event_hub.h"

namespace aw {

void EventHub::publish(const std::string& runId) {
    std::lock_guard lock(mutex_);  // the listener is not swapped away while it runs
    if (listener_) listener_(runId);
}

void EventHub::setListener(std::function<void(const std::string& runId)> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

}  // namespace aw
