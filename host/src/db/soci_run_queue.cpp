// SociRunStore as the RunQueue: claims under leases (a session's runs strictly in order),
// lease extension, finishing, retries, pruning, and the reads of queue entries.
// run_queue holds unfinished entries only (queued, claimed, retry_wait): the transaction
// that ends an entry moves it to run_queue_done, so a claim's walk never meets history;
// run_queue_done is pruned after the retention the store was made with.
// The hot path (claim, finish) runs statements prepared once per pooled connection
// (Database::withPrepared): on PostgreSQL one round trip each, planned once.
#include <algorithm>
#include <map>
#include <stdexcept>

#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

using run_rows::textOrEmpty;
using stmt::execute;
using stmt::NullableText;
using stmt::select;
using stmt::selectOne;

constexpr const char* kQueueColumns =
    "queue_id, enqueue_key, run_id, session_id, status, attempts, max_attempts, available_at_ms,"
    " locked_by, lock_expires_at_ms, last_error, created_at_ms, updated_at_ms";

//! How many finished entries one prune deletes at most, and how long after a prune that
//! left none over the next one is due.
constexpr long long kPruneBatch = 1000;
constexpr std::int64_t kPruneIntervalMs = 60'000;

//! A claim that ran into another claim of the same session (see claim()) is tried again
//! this often; a fresh statement sees the other claim and passes over the session.
constexpr int kClaimAttempts = 3;

struct QueueRow {
    long long queueId = 0, availableAt = 0, lockExpiresAt = 0, createdAt = 0, updatedAt = 0;
    std::string enqueueKey, runId, sessionId, status, lockedBy, lastError;
    soci::indicator lockedByInd = soci::i_ok, lastErrorInd = soci::i_ok;
    int attempts = 0, maxAttempts = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(queueId), soci::into(enqueueKey), soci::into(runId), soci::into(sessionId),
            soci::into(status), soci::into(attempts), soci::into(maxAttempts),
            soci::into(availableAt), soci::into(lockedBy, lockedByInd), soci::into(lockExpiresAt),
            soci::into(lastError, lastErrorInd), soci::into(createdAt), soci::into(updatedAt);
    }

    QueueEntry get() const {
        QueueEntry entry;
        entry.queueId = queueId;
        entry.enqueueKey = enqueueKey;
        entry.runId = runId;
        entry.sessionId = sessionId;
        entry.status = parseQueueStatus(status).value_or(QueueStatus::FinalFailed);
        entry.attempts = attempts;
        entry.maxAttempts = maxAttempts;
        entry.availableAtMs = availableAt;
        entry.lockedBy = textOrEmpty(lockedBy, lockedByInd);
        entry.lockExpiresAtMs = lockExpiresAt;
        entry.lastError = textOrEmpty(lastError, lastErrorInd);
        entry.createdAtMs = createdAt;
        entry.updatedAtMs = updatedAt;
        return entry;
    }
};

bool isPostgres(soci::session& sql) {
    return sql.get_backend_name() == "postgresql";
}

std::optional<QueueEntry> loadEntry(soci::session& sql, long long queueId) {
    return selectOne<QueueRow>(
        sql, std::string("SELECT ") + kQueueColumns + " FROM run_queue WHERE queue_id = :qid",
        queueId);
}

//! The columns of an ending entry as run_queue_done takes them, read from `source`: its
//! status, error (kept when none is given) and time bound as :status, :error, :now.
std::string endedColumns(const std::string& source) {
    return std::string("INSERT INTO run_queue_done (") + kQueueColumns +
           ") SELECT queue_id, enqueue_key, run_id, session_id, :status, attempts, max_attempts,"
           " available_at_ms, locked_by, lock_expires_at_ms, COALESCE(:error, last_error),"
           " created_at_ms, :now FROM " +
           source;
}

//! Moves an entry that has just ended (succeeded or final_failed) out of run_queue.
void moveToDone(soci::session& sql, long long queueId) {
    execute(sql,
            std::string("INSERT INTO run_queue_done (") + kQueueColumns + ") SELECT " +
                kQueueColumns + " FROM run_queue WHERE queue_id = :qid",
            queueId);
    execute(sql, "DELETE FROM run_queue WHERE queue_id = :qid", queueId);
}

//! Runs `statement` and collects every row it returns. A SQLite statement is stepped to
//! its end: one left mid-result keeps its transaction (the write lock, for an UPDATE) open.
template <typename Row>
std::vector<QueueEntry> fetchAll(soci::statement& statement, const Row& row) {
    std::vector<QueueEntry> rows;
    for (bool got = statement.execute(true); got; got = statement.fetch())
        rows.push_back(row.get());
    return rows;
}

//! The claim taking at most `limit` entries: a number, or a placeholder for EXPLAIN.
std::string claimText(Dialect dialect, const std::string& limit);

//! The claims, prepared once per connection and limit. The limit is written into the text:
//! with `LIMIT $n` PostgreSQL costs its generic plan for a tenth of the table, finds it
//! dearer than a plan for the limit given, and so would plan every claim anew.
struct ClaimStatements {
    soci::session& session;
    std::string holder;
    long long expires = 0, now = 0;
    QueueRow row;
    std::map<std::size_t, soci::statement> byLimit;  // a handful: the dispatcher's slot counts

    explicit ClaimStatements(soci::session& sql) : session(sql) {}

    soci::statement& forLimit(std::size_t limit) {
        if (const auto found = byLimit.find(limit); found != byLimit.end()) return found->second;
        const bool postgres = isPostgres(session);
        soci::details::prepare_temp_type prep =
            (session.prepare << claimText(postgres ? Dialect::Postgresql : Dialect::Sqlite,
                                          std::to_string(limit)));
        row.bind(prep);
        // The placeholders' order: PostgreSQL's statement chooses first, SQLite's updates first.
        if (postgres) prep, soci::use(now), soci::use(now);
        prep, soci::use(holder), soci::use(expires), soci::use(now);
        if (!postgres) prep, soci::use(now), soci::use(now);
        return byLimit.emplace(limit, prep).first->second;
    }
};

//! finish(), prepared once per connection. PostgreSQL: one statement, one round trip; the
//! DELETE decides and locks the row, so of two racing finishes the second finds nothing.
//! SQLite has no DELETE in a WITH: copy, then delete, in one write transaction.
struct FinishStatements {
    soci::session& session;
    std::string holder, status, error;
    soci::indicator errorInd = soci::i_ok;
    long long queueId = 0, now = 0;
    bool postgres;
    soci::statement end;
    std::optional<soci::statement> remove;  // SQLite only

    explicit FinishStatements(soci::session& sql)
        : session(sql), postgres(isPostgres(sql)), end(prepareEnd(sql)) {
        if (!postgres) {
            remove.emplace(
                (sql.prepare << "DELETE FROM run_queue WHERE queue_id = :qid", soci::use(queueId)));
        }
    }

    soci::details::prepare_temp_type prepareEnd(soci::session& sql) {
        const std::string mine =
            " WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'";
        soci::details::prepare_temp_type prep =
            (sql.prepare << (postgres ? "WITH ended AS (DELETE FROM run_queue" + mine +
                                            " RETURNING *) " + endedColumns("ended")
                                      : endedColumns("run_queue" + mine)));
        if (postgres) prep, soci::use(queueId), soci::use(holder);
        prep, soci::use(status), soci::use(error, errorInd), soci::use(now);
        if (!postgres) prep, soci::use(queueId), soci::use(holder);
        return prep;
    }
};

//! Deletes the oldest finished entries, a batch at a time, prepared once per connection.
struct PruneStatement {
    long long before = 0, batch = kPruneBatch;
    soci::statement statement;

    explicit PruneStatement(soci::session& sql)
        : statement((sql.prepare << "DELETE FROM run_queue_done WHERE queue_id IN (SELECT queue_id"
                                    " FROM run_queue_done WHERE updated_at_ms < :before"
                                    " ORDER BY updated_at_ms LIMIT :batch)",
                     soci::use(before), soci::use(batch))) {}
};

}  // namespace

// A claim is one UPDATE of the entries it takes, chosen by a query: a walk of run_queue
// in queue_id order that stops at `limit` entries (sql/*/003_queue_done.sql), taking
//  - the oldest entry of a session, queued or waiting for its retry, when it is due and no
//    entry of the session is claimed: a session's runs go in order, and an older entry
//    (every one in run_queue is unfinished, even one waiting for its retry) holds back
//    the newer ones;
//  - an entry claimed under an expired lease (its holder died): taken over as it is.
// On SQLite the UPDATE is its own write transaction, so claims run one at a time. On
// PostgreSQL `FOR UPDATE OF q SKIP LOCKED` locks the chosen entries, so concurrent
// claimers pass over each other's instead of queueing on them; an entry changed since the
// statement's snapshot is checked again as it now is before it is locked. What a snapshot
// can miss is an older entry of a session whose enqueue commits after a newer one's: then
// two claimers could take two entries of one session at once. The unique index
// run_queue_one_claimed (004_queue_claim.sql) refuses the second; that claim fails with a
// constraint violation and is made again, and the fresh statement sees the first.
std::string SociRunStore::claimStatement(Dialect dialect) {
    return claimText(dialect, ":limit");
}

namespace {

std::string claimText(Dialect dialect, const std::string& limit) {
    // The times are compared as `column - :now <= 0`: PostgreSQL estimates that alike with
    // and without the value, so a plan made without (generic) costs as much as one made
    // for it, and it keeps the generic plan instead of planning every claim anew.
    const std::string chosen =
        "SELECT q.queue_id AS next_id FROM run_queue q WHERE"
        " ((q.status = 'queued' OR q.status = 'retry_wait') AND q.available_at_ms - :due <= 0"
        " AND NOT EXISTS (SELECT 1 FROM run_queue p WHERE p.session_id = q.session_id"
        " AND p.queue_id < q.queue_id)"
        " AND NOT EXISTS (SELECT 1 FROM run_queue c WHERE c.session_id = q.session_id"
        " AND c.status = 'claimed'))"
        " OR (q.status = 'claimed' AND q.lock_expires_at_ms - :expired <= 0)"
        " ORDER BY q.queue_id LIMIT " +
        limit;
    const std::string update =
        "UPDATE run_queue SET status = 'claimed', attempts = attempts + 1, locked_by = :holder,"
        " lock_expires_at_ms = :expires, updated_at_ms = :now";
    const std::string returning = std::string(" RETURNING ") + kQueueColumns;
    if (dialect == Dialect::Postgresql) {
        // Joined by primary key from a WITH: as `queue_id IN (...)` the planner may match
        // the chosen entries with a scan of run_queue, a plan it keeps as the table grows.
        return "WITH next AS (" + chosen + " FOR UPDATE OF q SKIP LOCKED) " + update +
               " FROM next WHERE queue_id = next_id" + returning;
    }
    return update + " WHERE queue_id IN (" + chosen + ")" + returning;
}

}  // namespace

std::vector<QueueEntry> SociRunStore::claim(const std::string& holder, std::int64_t nowMs,
                                            std::int64_t leaseMs, std::size_t limit) {
    if (limit == 0) return {};
    pruneDone(nowMs);
    for (int attempt = 1;; ++attempt) {
        try {
            auto entries = database_.withPrepared<ClaimStatements>([&](ClaimStatements& claims) {
                claims.holder = holder;
                claims.expires = nowMs + leaseMs;
                claims.now = nowMs;
                return fetchAll(claims.forLimit(limit), claims.row);
            });
            // RETURNING gives no order; callers get the oldest first.
            std::sort(entries.begin(), entries.end(), [](const QueueEntry& a, const QueueEntry& b) {
                return a.queueId < b.queueId;
            });
            return entries;
        } catch (const soci::soci_error& e) {
            if (e.get_error_category() != soci::soci_error::constraint_violation ||
                attempt == kClaimAttempts) {
                throw;
            }
        }
    }
}

void SociRunStore::pruneDone(std::int64_t nowMs) {
    if (doneRetention_.count() <= 0) return;
    // One claimer at a time prunes, when due: a compare-and-swap moves the next time on.
    std::int64_t due = nextPruneMs_.load();
    if (nowMs < due || !nextPruneMs_.compare_exchange_strong(due, nowMs + kPruneIntervalMs)) return;
    const long long deleted = database_.withPrepared<PruneStatement>([&](PruneStatement& prune) {
        prune.before = nowMs - doneRetention_.count();
        prune.statement.execute(true);
        return prune.statement.get_affected_rows();
    });
    // A full batch may have left more behind: the next claim takes the next batch.
    if (deleted >= kPruneBatch) nextPruneMs_.store(nowMs);
}

bool SociRunStore::extendLease(std::int64_t queueId, const std::string& holder, std::int64_t untilMs,
                               std::int64_t nowMs) {
    return database_.withSession([&](soci::session& sql) {
        return execute(sql,
                       "UPDATE run_queue SET lock_expires_at_ms = :until, updated_at_ms = :now"
                       " WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'",
                       static_cast<long long>(untilMs), static_cast<long long>(nowMs),
                       static_cast<long long>(queueId), holder) == 1;
    });
}

std::size_t SociRunStore::expireLeasesOf(const std::string& holder, std::int64_t nowMs) {
    return database_.withSession([&](soci::session& sql) {
        return static_cast<std::size_t>(
            execute(sql,
                    "UPDATE run_queue SET lock_expires_at_ms = :expired, updated_at_ms = :now"
                    " WHERE locked_by = :holder AND status = 'claimed'"
                    " AND lock_expires_at_ms > :live",
                    static_cast<long long>(nowMs - 1), static_cast<long long>(nowMs), holder,
                    static_cast<long long>(nowMs)));
    });
}

bool SociRunStore::finish(std::int64_t queueId, const std::string& holder, QueueStatus status,
                          const std::string& error, std::int64_t nowMs) {
    if (status != QueueStatus::Succeeded && status != QueueStatus::FinalFailed) {
        throw std::invalid_argument("RunQueue::finish takes succeeded or final_failed, not " +
                                    std::string(toString(status)));
    }
    return database_.withPrepared<FinishStatements>([&](FinishStatements& finish) {
        finish.holder = holder;
        finish.status = toString(status);
        finish.error = error;
        finish.errorInd = error.empty() ? soci::i_null : soci::i_ok;
        finish.queueId = queueId;
        finish.now = nowMs;
        if (finish.postgres) {
            finish.end.execute(true);
            return finish.end.get_affected_rows() == 1;
        }
        WriteTransaction transaction(finish.session, Dialect::Sqlite);
        finish.end.execute(true);
        if (finish.end.get_affected_rows() != 1) return false;
        finish.remove->execute(true);
        transaction.commit();
        return true;
    });
}

std::optional<QueueStatus> SociRunStore::retryLater(std::int64_t queueId, const std::string& holder,
                                                    std::int64_t availableAtMs,
                                                    const std::string& error, std::int64_t nowMs) {
    return database_.withSession([&](soci::session& sql) -> std::optional<QueueStatus> {
        WriteTransaction transaction(sql, database_.dialect());
        const long long updated = execute(
            sql,
            "UPDATE run_queue SET status = CASE WHEN attempts >= max_attempts THEN 'final_failed'"
            " ELSE 'retry_wait' END, available_at_ms = :available, last_error = :error,"
            " updated_at_ms = :now WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'",
            static_cast<long long>(availableAtMs), NullableText(error), static_cast<long long>(nowMs),
            static_cast<long long>(queueId), holder);
        if (updated != 1) return std::nullopt;
        const auto entry = loadEntry(sql, queueId);
        if (!entry) return std::nullopt;
        if (entry->status == QueueStatus::FinalFailed) moveToDone(sql, queueId);
        transaction.commit();
        return entry->status;
    });
}

std::optional<QueueEntry> SociRunStore::findByRun(const std::string& runId) {
    return database_.withSession([&](soci::session& sql) {
        const std::string columns = std::string("SELECT ") + kQueueColumns;
        return selectOne<QueueRow>(sql,
                                   columns + " FROM run_queue WHERE run_id = :rid UNION ALL " +
                                       columns + " FROM run_queue_done WHERE run_id = :done",
                                   runId, runId);
    });
}

std::vector<QueueEntry> SociRunStore::list(std::optional<QueueStatus> status, std::size_t limit) {
    return database_.withSession([&](soci::session& sql) {
        const auto newest = [](const std::string& table, const std::string& where) {
            return std::string("SELECT ") + kQueueColumns + " FROM " + table + where +
                   " ORDER BY queue_id DESC LIMIT :" + table + "_limit";
        };
        const auto max = static_cast<long long>(limit);
        if (status) {
            // An entry's status says which table holds it.
            const bool done =
                *status == QueueStatus::Succeeded || *status == QueueStatus::FinalFailed;
            return select<QueueRow>(
                sql, newest(done ? "run_queue_done" : "run_queue", " WHERE status = :status"),
                std::string(toString(*status)), max);
        }
        return select<QueueRow>(sql,
                                "SELECT * FROM (" + newest("run_queue", "") +
                                    ") AS unfinished UNION ALL SELECT * FROM (" +
                                    newest("run_queue_done", "") +
                                    ") AS done ORDER BY queue_id DESC LIMIT :limit",
                                max, max, max);
    });
}

}  // namespace aw
