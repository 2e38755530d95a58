// One PostgreSQL session of its own for advisory locks: a lock taken on it is held until it
// is released or the session ends (the process dies, the connection drops), with no lease to
// wait out. ClusterLock and ReplicaPresence stand on it. A session the server ended is
// reopened on the next call, and `generation()` counts the sessions opened, so a holder can
// tell that its locks went with the old one. One caller at a time.
#pragma once

#include <string>

#include "db/database_url.h"

struct pg_conn;

namespace aw {

class PgAdvisorySession {
public:
    explicit PgAdvisorySession(DatabaseUrl url) : url_(std::move(url)) {}
    ~PgAdvisorySession();
    PgAdvisorySession(const PgAdvisorySession&) = delete;
    PgAdvisorySession& operator=(const PgAdvisorySession&) = delete;

    //! Takes the lock named `name` when no other session holds it. Throws
    //! StoreUnavailableError when the database cannot be asked.
    bool tryLock(const std::string& name);
    //! Releases the lock named `name`; a session already gone released it too.
    void unlock(const std::string& name);
    //! Asks the server something, reopening the session when it was ended.
    void ping();
    //! How many sessions were opened so far (a lock belongs to the one it was taken in).
    int generation() const { return generation_; }

private:
    //! The one value of `SELECT <function>(hashtextextended(name, 0))`, or of `SELECT 1`
    //! without a function.
    std::string ask(const std::string& function, const std::string& name);

    DatabaseUrl url_;
    pg_conn* connection_ = nullptr;
    int generation_ = 0;
};

}  // namespace aw
