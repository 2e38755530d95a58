#include "agent_worker/core/runs/queue_driver.h"

namespace aw {

void QueueDriver::expireOwnLeases(std::int64_t nowMs) {
    for (const auto& entry : queue_.list(QueueStatus::Claimed, 1000)) {
        if (entry.lockedBy == options_.hostId) queue_.extendLease(entry.queueId, options_.hostId, nowMs - 1, nowMs);
    }
}

std::vector<QueueEntry> QueueDriver::claim(std::size_t limit, std::int64_t nowMs) {
    return queue_.claim(options_.hostId, nowMs, options_.lease.count(), limit);
}

bool QueueDriver::keepLease(const QueueEntry& entry, std::chrono::steady_clock::time_point& lastRenewal,
                            std::chrono::steady_clock::time_point now, std::int64_t nowMs) {
    if (now - lastRenewal < options_.lease / 3) return true;
    lastRenewal = now;
    return queue_.extendLease(entry.queueId, options_.hostId, nowMs + options_.lease.count(), nowMs);
}

void QueueDriver::succeed(const QueueEntry& entry, std::int64_t nowMs) {
    queue_.finish(entry.queueId, options_.hostId, QueueStatus::Succeeded, "", nowMs);
}

void QueueDriver::failFinally(const QueueEntry& entry, const std::string& why, std::int64_t nowMs) {
    queue_.finish(entry.queueId, options_.hostId, QueueStatus::FinalFailed, why, nowMs);
}

std::optional<QueueStatus> QueueDriver::retryLater(const QueueEntry& entry, const std::string& why,
                                                   std::int64_t nowMs) {
    const auto at = nowMs + options_.retry.after(entry.attempts).count();
    return queue_.retryLater(entry.queueId, options_.hostId, at, why, nowMs);
}

}  // namespace aw
