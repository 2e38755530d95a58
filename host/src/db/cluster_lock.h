// A lock one agent-host of a cluster holds at a time, for work that must not run on two
// replicas at once (the maintenance passes). On PostgreSQL it is a session advisory lock
// taken on a connection of the lock's own: when the holding host dies, the server ends its
// session and the lock is free, with no lease to wait out. On SQLite (one host per
// database) it is this process's mutex alone.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "db/database_url.h"
#include "db/pg_advisory_session.h"

namespace aw {

class ClusterLock {
public:
    ClusterLock(DatabaseUrl url, std::string name);
    ClusterLock(const ClusterLock&) = delete;
    ClusterLock& operator=(const ClusterLock&) = delete;

    //! Runs `work` holding the lock; false, without running it, when another host holds it.
    //! Throws StoreUnavailableError when the database cannot be asked.
    bool tryRun(const std::function<void()>& work);
    //! Runs `work` once the lock is free, waiting at most `patience`; false when it was not.
    bool run(const std::function<void()>& work, std::chrono::milliseconds patience);

private:
    bool tryLock();
    void unlock();

    const bool shared_;  //!< PostgreSQL: other hosts may hold it
    std::string name_;
    std::mutex mutex_;  //!< this process's callers take turns; guards session_
    PgAdvisorySession session_;
};

}  // namespace aw
