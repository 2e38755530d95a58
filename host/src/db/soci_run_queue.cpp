// SociRunStore as the RunQueue: claims under leases (a session's runs strictly in order),
// lease extension, finishing, retries, and the reads of queue entries.
// run_queue holds unfinished entries only (queued, claimed, retry_wait): the transaction
// that ends an entry moves it to run_queue_done, so a claim's walk never meets history.
#include <set>
#include <stdexcept>

#include "db/soci_run_rows.h"
#include "db/soci_run_store.h"

namespace aw {
namespace {

using run_rows::ScalarRow;
using run_rows::textOrEmpty;
using stmt::execute;
using stmt::NullableText;
using stmt::select;
using stmt::selectOne;

constexpr const char* kQueueColumns =
    "queue_id, enqueue_key, run_id, session_id, status, attempts, max_attempts, available_at_ms,"
    " locked_by, lock_expires_at_ms, last_error, created_at_ms, updated_at_ms";

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

std::optional<QueueEntry> loadEntry(soci::session& sql, long long queueId) {
    return selectOne<QueueRow>(
        sql, std::string("SELECT ") + kQueueColumns + " FROM run_queue WHERE queue_id = :qid",
        queueId);
}

//! Moves an entry that has just ended (succeeded or final_failed) out of run_queue.
void moveToDone(soci::session& sql, long long queueId) {
    execute(sql,
            std::string("INSERT INTO run_queue_done (") + kQueueColumns + ") SELECT " +
                kQueueColumns + " FROM run_queue WHERE queue_id = :qid",
            queueId);
    execute(sql, "DELETE FROM run_queue WHERE queue_id = :qid", queueId);
}

//! Transaction-level advisory locks of the claim take (kClaimLockClass, hashtext(session))
//! keys: the two-int key space, apart from the migrator's single bigint key.
constexpr int kClaimLockClass = 0x41575251;  // "AWRQ"

//! True for an entry (alias `a`) a claim may take at `:<p>a`/`:<p>b` (both bound to now):
//! queued or retry_wait and available, or claimed under an expired lease.
std::string readyPredicate(const std::string& a, const std::string& p) {
    return "(((" + a + ".status = 'queued' OR " + a + ".status = 'retry_wait') AND " + a +
           ".available_at_ms <= :" + p + "a) OR (" + a + ".status = 'claimed' AND " + a +
           ".lock_expires_at_ms <= :" + p + "b))";
}

//! True when another entry of the session of `a` is claimed under a live lease (bound: now).
std::string liveSiblingPredicate(const std::string& a, const std::string& p) {
    return "EXISTS (SELECT 1 FROM run_queue o WHERE o.session_id = " + a + ".session_id AND o.queue_id <> " +
           a + ".queue_id AND o.status = 'claimed' AND o.lock_expires_at_ms > :" + p + ")";
}

}  // namespace

// A claim runs in one write transaction:
//  1. Candidates: the oldest unfinished entry of each session, when it is ready and the
//     session has no entry claimed under a live lease, oldest first. The plan is a walk of
//     run_queue in queue_id order that stops at `limit` candidates, with one index probe
//     per entry visited for each session rule; it never sorts the backlog (no index finds
//     ready entries, so the planners have nothing better; sql/*/003_queue_done.sql). On
//     PostgreSQL `FOR UPDATE OF q SKIP LOCKED` locks the candidates, so concurrent
//     claimers pass over each other's candidates instead of queueing on them.
//  2. For each candidate, on PostgreSQL, pg_try_advisory_xact_lock on the session: the
//     candidate query reads a snapshot, so two claimers could still pick two different
//     entries of one session (e.g. their `now` differ and only one sees an older entry as
//     available). The session lock makes at most one transaction claim for a session at a
//     time; whoever fails to get it skips the session this round. A hash collision only
//     makes a session wait a round, never a double claim.
//  3. The UPDATE re-checks readiness and the absence of a live sibling claim. It runs after
//     the session lock is held and, in READ COMMITTED, with a fresh snapshot, so it sees
//     every claim committed by the lock's previous holder.
// On SQLite BEGIN IMMEDIATE serialises the whole claim, so steps 1 and 3 suffice.

std::vector<QueueEntry> SociRunStore::claim(const std::string& holder, std::int64_t nowMs,
                                            std::int64_t leaseMs, std::size_t limit) {
    if (limit == 0) return {};
    const long long now = nowMs;
    const long long expires = nowMs + leaseMs;
    const bool postgres = database_.dialect() == Dialect::Postgresql;
    return database_.withSession([&](soci::session& sql) {
        WriteTransaction transaction(sql, database_.dialect());
        struct Candidate {
            long long queueId = 0;
            std::string sessionId;
        };
        struct CandidateRow {
            long long queueId = 0;
            std::string sessionId;
            void bind(soci::details::prepare_temp_type& prep) {
                prep, soci::into(queueId), soci::into(sessionId);
            }
            Candidate get() const { return Candidate{queueId, sessionId}; }
        };
        const auto candidates = select<CandidateRow>(
            sql,
            "SELECT q.queue_id, q.session_id FROM run_queue q WHERE " + readyPredicate("q", "r") +
                " AND NOT " + liveSiblingPredicate("q", "live") +
                // A session's runs go in order: an older entry (every one in run_queue is
                // unfinished, even one waiting for its retry) holds back the newer ones.
                " AND NOT EXISTS (SELECT 1 FROM run_queue p WHERE p.session_id = q.session_id"
                " AND p.queue_id < q.queue_id)"
                " ORDER BY q.queue_id LIMIT :limit" +
                (postgres ? " FOR UPDATE OF q SKIP LOCKED" : ""),
            now, now, now, static_cast<long long>(limit));

        std::set<std::string> sessions;
        std::vector<long long> claimed;
        for (const auto& candidate : candidates) {
            if (!sessions.insert(candidate.sessionId).second) continue;
            if (postgres) {
                const auto locked = selectOne<ScalarRow<int>>(
                    sql,
                    "SELECT CASE WHEN pg_try_advisory_xact_lock(" + std::to_string(kClaimLockClass) +
                        ", hashtext(:sid)) THEN 1 ELSE 0 END",
                    candidate.sessionId);
                if (locked.value_or(0) != 1) continue;
            }
            const long long updated = execute(
                sql,
                "UPDATE run_queue SET status = 'claimed', attempts = attempts + 1, locked_by = :holder,"
                " lock_expires_at_ms = :expires, updated_at_ms = :now WHERE queue_id = :qid AND " +
                    readyPredicate("run_queue", "r") + " AND NOT " +
                    liveSiblingPredicate("run_queue", "live"),
                holder, expires, now, candidate.queueId, now, now, now);
            if (updated == 1) claimed.push_back(candidate.queueId);
        }
        std::vector<QueueEntry> entries;
        for (const long long queueId : claimed) {
            if (auto entry = loadEntry(sql, queueId)) entries.push_back(std::move(*entry));
        }
        transaction.commit();
        return entries;
    });
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

bool SociRunStore::finish(std::int64_t queueId, const std::string& holder, QueueStatus status,
                          const std::string& error, std::int64_t nowMs) {
    if (status != QueueStatus::Succeeded && status != QueueStatus::FinalFailed) {
        throw std::invalid_argument("RunQueue::finish takes succeeded or final_failed, not " +
                                    std::string(toString(status)));
    }
    const std::string statusName(toString(status));
    const long long now = nowMs;
    const long long qid = queueId;
    return database_.withSession([&](soci::session& sql) {
        if (database_.dialect() == Dialect::Postgresql) {
            // One statement, one round trip: the DELETE decides and locks the row, so of two
            // racing finishes the second finds nothing.
            return execute(sql,
                           "WITH ended AS (DELETE FROM run_queue WHERE queue_id = :qid"
                           " AND locked_by = :holder AND status = 'claimed' RETURNING *)"
                           " INSERT INTO run_queue_done (" +
                               std::string(kQueueColumns) +
                               ") SELECT queue_id, enqueue_key, run_id, session_id, :status,"
                               " attempts, max_attempts, available_at_ms, locked_by,"
                               " lock_expires_at_ms, COALESCE(:error, last_error), created_at_ms,"
                               " :now FROM ended",
                           qid, holder, statusName, NullableText(error), now) == 1;
        }
        // SQLite has no DELETE in a WITH; its statements are local calls, so three it is.
        WriteTransaction transaction(sql, database_.dialect());
        const long long updated = execute(
            sql,
            "UPDATE run_queue SET status = :status, last_error = COALESCE(:error, last_error),"
            " updated_at_ms = :now"
            " WHERE queue_id = :qid AND locked_by = :holder AND status = 'claimed'",
            statusName, NullableText(error), now, qid, holder);
        if (updated != 1) return false;
        moveToDone(sql, qid);
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
