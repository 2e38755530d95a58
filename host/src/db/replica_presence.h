// Which replicas of a cluster are alive, as PostgreSQL itself sees it, so that a replica's
// runs are taken over about a second after it dies rather than when their leases run out.
//
// Each replica holds a session advisory lock named after its host id (`aw.replica:<id>`) on
// a session of its own for as long as it runs, and once it holds it lists itself in
// `cluster_replicas`. Once a second it looks at the holders of the live leases in the queue:
// a listed holder whose lock it can take is gone, since the server frees a session's locks
// when the session ends (kill -9, a machine lost). Found free twice in a row, its leases are
// ended (RunQueue::expireLeasesOf), and the next claim takes its runs over. A holder not
// listed (a replica of an older version holds no lock) is left to its leases, and one that
// lost its connection for a moment takes its lock again within the second. On SQLite (one
// host) it does nothing.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "agent_worker/core/run_store.h"
#include "db/database.h"
#include "db/pg_advisory_session.h"

namespace aw {

class ReplicaPresence {
public:
    //! Told of each replica found gone: its host id and how many leases it had.
    using GoneListener = std::function<void(const std::string& hostId, std::size_t leases)>;

    ReplicaPresence(Database& database, std::string hostId, RunQueue& queue, GoneListener gone);
    //! Stops watching and releases this replica's lock.
    ~ReplicaPresence();
    ReplicaPresence(const ReplicaPresence&) = delete;
    ReplicaPresence& operator=(const ReplicaPresence&) = delete;

    //! Takes this replica's lock and watches the others, once a second.
    void start();
    //! One round: this replica's lock taken (again, if its session was lost) and itself
    //! listed, then the others looked at. For the watching thread, and for tests that drive
    //! it themselves.
    void check(std::int64_t nowMs);

private:
    static std::string lockName(const std::string& hostId) { return "aw.replica:" + hostId; }
    void holdOwn(std::int64_t nowMs);
    //! The host ids listed in cluster_replicas.
    std::set<std::string> listed();

    Database& database_;
    const bool shared_;
    std::string hostId_;
    RunQueue& queue_;
    GoneListener gone_;
    PgAdvisorySession session_;
    int heldIn_ = -1;  //!< the session generation this replica's lock was taken in
    //! Listed holders of live leases: how many rounds in a row their lock was found free.
    std::map<std::string, int> freeRounds_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace aw
