// The database connection pool (SOCI) and the dialect-aware helpers every repository uses.
#pragma once

#include <soci/soci.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "agent_worker/core/repositories.h"
#include "db/database_url.h"

namespace aw {

class Database : public StoreHealth {
public:
    //! Opens `poolSize` connections, retrying an unreachable server until `connectTimeout`
    //! has passed. Throws ProblemError `database_unreachable` with the driver's reason.
    Database(DatabaseUrl url, int poolSize, std::chrono::seconds connectTimeout);
    ~Database() override;

    Dialect dialect() const { return url_.dialect; }
    const DatabaseUrl& url() const { return url_; }

    //! Runs `work(soci::session&)` on a pooled connection. When the connection turns out
    //! to be lost (server restart, failover) it throws StoreUnavailableError and reopens the
    //! connection, so the next caller gets a working one; a damaged SQLite file throws
    //! StoreCorruptError; other database errors pass as is.
    template <typename Work>
    auto withSession(Work&& work) -> decltype(work(std::declval<soci::session&>())) {
        soci::session session(*pool_);
        try {
            return work(session);
        } catch (const soci::soci_error& e) {
            throwCorruptIfDamaged(e);
            throwUnavailableIfLost(session, e);
            throw;
        }
    }

    //! Empty when a trivial query succeeds; otherwise the reason (for /ready).
    std::optional<std::string> unhealthyReason() override;

private:
    void open(soci::session& session);
    //! Throws StoreCorruptError when `error` says the SQLite file is not a database or damaged.
    void throwCorruptIfDamaged(const soci::soci_error& error) const;
    //! Throws StoreUnavailableError when `session` lost its connection (and tries to reopen it).
    void throwUnavailableIfLost(soci::session& session, const soci::soci_error& error);

    DatabaseUrl url_;
    int poolSize_;
    std::unique_ptr<soci::connection_pool> pool_;
};

//! A write transaction begun the dialect's way: `BEGIN IMMEDIATE` on SQLite, so writers
//! queue on the busy timeout instead of failing to upgrade a read lock. Rolls back unless
//! committed.
class WriteTransaction {
public:
    WriteTransaction(soci::session& session, Dialect dialect);
    ~WriteTransaction();
    WriteTransaction(const WriteTransaction&) = delete;
    WriteTransaction& operator=(const WriteTransaction&) = delete;
    void commit();

private:
    soci::session& session_;
    bool open_ = true;
};

}  // namespace aw
