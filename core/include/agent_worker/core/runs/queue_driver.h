// Step 2 of a run: this host's side of the run queue. Claims entries under a lease, keeps
// the lease of a running entry alive, and ends each entry: succeeded, retried later with
// backoff (failures before the agent started), or final_failed.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/backoff.h"
#include "agent_worker/core/run_store.h"

namespace aw {

struct QueueDriverOptions {
    std::string hostId;  //!< the lease holder; stable across restarts of one host
    std::chrono::milliseconds lease{120000};
    //! Waits before a retried run: doubling per attempt, capped, +-20% jitter.
    Backoff retry{std::chrono::milliseconds(1000), std::chrono::milliseconds(60000), 0.2};
};

class QueueDriver {
public:
    QueueDriver(QueueDriverOptions options, RunQueue& queue) : options_(std::move(options)), queue_(queue) {}

    //! Entries this host held in an earlier life are not being worked on: their leases end
    //! now instead of running out.
    void expireOwnLeases(std::int64_t nowMs);
    //! At most `limit` ready entries (one per session), each under a fresh lease.
    std::vector<QueueEntry> claim(std::size_t limit, std::int64_t nowMs);
    //! Extends the entry's lease when a third of it has passed since `lastRenewal` (which
    //! it then moves to `now`). False when another host holds the entry now.
    bool keepLease(const QueueEntry& entry, std::chrono::steady_clock::time_point& lastRenewal,
                   std::chrono::steady_clock::time_point now, std::int64_t nowMs);

    void succeed(const QueueEntry& entry, std::int64_t nowMs);
    void failFinally(const QueueEntry& entry, const std::string& why, std::int64_t nowMs);
    //! `retry_wait` after the entry's backoff, or `final_failed` past its attempts; nullopt
    //! when the lease was lost.
    std::optional<QueueStatus> retryLater(const QueueEntry& entry, const std::string& why,
                                          std::int64_t nowMs);

private:
    QueueDriverOptions options_;
    RunQueue& queue_;
};

}  // namespace aw
