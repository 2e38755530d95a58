// The database connection pool (SOCI) and the dialect-aware helpers every repository uses.
#pragma once

#include <soci/soci.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent_worker/core/repositories.h"
#include "db/database_url.h"
#include "db/sqlite_checkpointer.h"

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
        const Lease lease(*pool_);
        soci::session& session = pool_->at(lease.slot);
        try {
            return work(session);
        } catch (const soci::soci_error& e) {
            throwCorruptIfDamaged(e);
            throwUnavailableIfLost(lease.slot, e);
            throw;
        }
    }

    //! Like withSession, but runs `work(Prepared&)`: the pooled connection's own Prepared,
    //! made once per connection as `Prepared(soci::session&)`, so that the statements it
    //! holds are prepared once and executed many times. Dropped (and made again on next
    //! use) after any database error, and when the connection is reopened.
    template <typename Prepared, typename Work>
    auto withPrepared(Work&& work) -> decltype(work(std::declval<Prepared&>())) {
        const Lease lease(*pool_);
        soci::session& session = pool_->at(lease.slot);
        auto& prepared = prepared_[lease.slot];
        try {
            auto& cached = prepared[std::type_index(typeid(Prepared))];
            if (!cached) cached = std::make_shared<Prepared>(session);
            return work(*static_cast<Prepared*>(cached.get()));
        } catch (const soci::soci_error& e) {
            prepared.clear();  // a statement that failed may be in any state
            throwCorruptIfDamaged(e);
            throwUnavailableIfLost(lease.slot, e);
            throw;
        }
    }

    //! Empty when a trivial query succeeds; otherwise the reason (for /ready).
    std::optional<std::string> unhealthyReason() override;

private:
    //! A pooled connection held for one call; the slot indexes the pool and prepared_.
    struct Lease {
        explicit Lease(soci::connection_pool& pool) : pool(pool), slot(pool.lease()) {}
        ~Lease() { pool.give_back(slot); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        soci::connection_pool& pool;
        std::size_t slot;
    };

    void open(soci::session& session);
    //! Throws StoreCorruptError when `error` says the SQLite file is not a database or damaged.
    void throwCorruptIfDamaged(const soci::soci_error& error) const;
    //! Throws StoreUnavailableError when the connection in `slot` is lost (and tries to
    //! reopen it, dropping the statements prepared on it first).
    void throwUnavailableIfLost(std::size_t slot, const soci::soci_error& error);

    DatabaseUrl url_;
    int poolSize_;
    //! SQLite files: checkpoints off the committing threads. Declared before pool_, so the
    //! connections that report to it close first.
    std::unique_ptr<SqliteCheckpointer> checkpointer_;
    std::unique_ptr<soci::connection_pool> pool_;
    //! Per pool slot, withPrepared's objects by type; only the slot's leaseholder touches it.
    //! Declared after pool_, so destroyed before the connections they were prepared on.
    std::vector<std::unordered_map<std::type_index, std::shared_ptr<void>>> prepared_;
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
