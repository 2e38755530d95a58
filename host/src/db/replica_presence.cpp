#include "db/replica_presence.h"

#include "agent_worker/core/time_format.h"

namespace aw {
namespace {
constexpr auto kRound = std::chrono::seconds(1);
constexpr int kFreeRoundsForGone = 2;
}  // namespace

ReplicaPresence::ReplicaPresence(Database& database, std::string hostId, RunQueue& queue,
                                 GoneListener gone)
    : database_(database),
      shared_(database.dialect() == Dialect::Postgresql),
      hostId_(std::move(hostId)),
      queue_(queue),
      gone_(std::move(gone)),
      session_(database.url()) {}

ReplicaPresence::~ReplicaPresence() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    // The session's end (session_'s destructor) releases this replica's lock.
}

void ReplicaPresence::start() {
    if (!shared_) return;
    try {
        holdOwn(unixMillisNow());
    } catch (const std::exception&) {
        // The database is away: taken in a later round.
    }
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, kRound, [this] { return stopping_; })) {
            lock.unlock();
            try {
                check(unixMillisNow());
            } catch (const std::exception&) {
                // The database is away: leases are renewed nowhere, and run out as they would.
            }
            lock.lock();
        }
    });
}

void ReplicaPresence::holdOwn(std::int64_t nowMs) {
    session_.ping();  // a session the server ended is reopened here, without its locks
    if (heldIn_ == session_.generation()) return;
    // False only while another process holds it: a host id used twice, or this replica's
    // previous life whose session the server has not ended yet. Asked again next round.
    if (!session_.tryLock(lockName(hostId_))) return;
    heldIn_ = session_.generation();
    // Listed once the lock is held: a listed replica whose lock is free is gone.
    database_.withSession([&](soci::session& sql) {
        sql << "INSERT INTO cluster_replicas (host_id, started_at_ms) VALUES (:host, :now)"
               " ON CONFLICT (host_id) DO UPDATE SET started_at_ms = excluded.started_at_ms",
            soci::use(hostId_), soci::use(static_cast<long long>(nowMs));
    });
}

std::set<std::string> ReplicaPresence::listed() {
    return database_.withSession([](soci::session& sql) {
        std::set<std::string> hosts;
        soci::rowset<std::string> rows = (sql.prepare << "SELECT host_id FROM cluster_replicas");
        for (const auto& host : rows) hosts.insert(host);
        return hosts;
    });
}

void ReplicaPresence::check(std::int64_t nowMs) {
    if (!shared_) return;
    holdOwn(nowMs);
    std::set<std::string> holders;
    for (const auto& entry : queue_.list(QueueStatus::Claimed, 1000)) {
        if (!entry.lockedBy.empty() && entry.lockedBy != hostId_ && entry.lockExpiresAtMs > nowMs)
            holders.insert(entry.lockedBy);
    }
    if (!holders.empty()) {
        const auto present = listed();
        for (auto it = holders.begin(); it != holders.end();)
            it = present.count(*it) ? std::next(it) : holders.erase(it);
    }
    for (auto it = freeRounds_.begin(); it != freeRounds_.end();) {
        it = holders.count(it->first) ? std::next(it) : freeRounds_.erase(it);  // nothing to watch
    }
    for (const auto& holder : holders) {
        const std::string name = lockName(holder);
        if (!session_.tryLock(name)) {
            freeRounds_[holder] = 0;  // held: alive
            continue;
        }
        session_.unlock(name);
        if (++freeRounds_[holder] < kFreeRoundsForGone) continue;
        freeRounds_.erase(holder);
        const auto leases = queue_.expireLeasesOf(holder, nowMs);
        if (gone_) gone_(holder, leases);
    }
}

}  // namespace aw
