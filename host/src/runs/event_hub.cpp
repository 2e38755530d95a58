#include "runs/event_hub.h"

namespace aw {

void EventHub::publish(const std::string& runId, std::int64_t lastSeq) {
    {
        std::lock_guard lock(mutex_);
        auto& known = lastSeq_[runId];
        if (lastSeq <= known) return;
        known = lastSeq;
        if (listener_) listener_(runId);
    }
    changed_.notify_all();
}

bool EventHub::waitForMore(const std::string& runId, std::int64_t afterSeq,
                           std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    const auto more = [&] {
        const auto it = lastSeq_.find(runId);
        return it != lastSeq_.end() && it->second > afterSeq;
    };
    changed_.wait_for(lock, timeout, [&] { return closed_ || more(); });
    return more();
}

void EventHub::close() {
    {
        std::lock_guard lock(mutex_);  // a waiter between its check and its wait still wakes
        closed_ = true;
    }
    changed_.notify_all();
}

void EventHub::setListener(std::function<void(const std::string& runId)> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

void EventHub::forget(const std::string& runId) {
    std::lock_guard lock(mutex_);
    lastSeq_.erase(runId);
}

}  // namespace aw
