#include "runs/event_hub.h"

namespace aw {

void EventHub::publish(const std::string& runId, std::int64_t lastSeq) {
    {
        std::lock_guard lock(mutex_);
        auto& known = lastSeq_[runId];
        if (lastSeq <= known) return;
        known = lastSeq;
    }
    changed_.notify_all();
}

bool EventHub::waitForMore(const std::string& runId, std::int64_t afterSeq,
                           std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
        const auto it = lastSeq_.find(runId);
        return it != lastSeq_.end() && it->second > afterSeq;
    });
}

void EventHub::forget(const std::string& runId) {
    std::lock_guard lock(mutex_);
    lastSeq_.erase(runId);
}

}  // namespace aw
