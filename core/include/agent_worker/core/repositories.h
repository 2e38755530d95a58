// Ports to persistence. host/ implements them with SOCI; core and its tests see only these.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/problem.h"
#include "agent_worker/core/session_worker.h"

namespace aw {

//! The store cannot be reached right now (server down, connection lost). Callers answer
//! "try again later" (HTTP 503) rather than "internal error".
class StoreUnavailableError : public ProblemError {
public:
    using ProblemError::ProblemError;
};

//! The store's data is damaged (an SQLite file that is not a database, or corrupt pages):
//! retrying cannot help, an operator must restore it. Callers answer 500, never "retry".
class StoreCorruptError : public ProblemError {
public:
    using ProblemError::ProblemError;
};

//! Reads and writes session worker records.
class SessionWorkerRepository {
public:
    virtual ~SessionWorkerRepository() = default;
    virtual std::optional<SessionWorker> find(const std::string& sessionId) = 0;
    //! Every session's worker, the most recently updated first, at most `limit`.
    virtual std::vector<SessionWorker> recent(std::size_t limit) = 0;
};

//! One state change of a worker, applied by SessionWorkerStore::compareAndSet.
struct WorkerTransition {
    WorkerStatus status = WorkerStatus::Pending;
    WorkerStatus desiredStatus = WorkerStatus::Running;
    //! Empty optional keeps the current last_error; an empty string clears it.
    std::optional<std::string> lastError;
};

//! The outcome of one sync as written back to the worker record.
struct SyncRecord {
    SyncStatus status = SyncStatus::Never;
    std::string error;      //!< empty on success
    std::int64_t atMs = 0;  //!< when the sync began: it covers every change made before
};

//! The worker records as the lifecycle changes them. Every state change is a
//! compare-and-set on `version`, so two reapers, or two agent-host replicas, that read the
//! same record can never both act on it: exactly one wins, the other sees `false`.
class SessionWorkerStore : public SessionWorkerRepository {
public:
    //! Workers whose status is `status`, oldest state change first, at most `limit`.
    virtual std::vector<SessionWorker> listByStatus(WorkerStatus status, std::size_t limit) = 0;

    //! Inserts `worker` unless its session already has a record. True when inserted.
    virtual bool insertIfAbsent(const SessionWorker& worker) = 0;

    //! Applies `transition` only if the record's version is still `expectedVersion`:
    //! sets status, desired status (and last_error when given), sets state_changed_at and
    //! updated_at to `atMs`, and bumps the version by exactly one. True when this caller
    //! won. In SQL: `UPDATE ... SET ..., version = version + 1 WHERE session_id = ? AND
    //! version = ?`, won when one row changed.
    virtual bool compareAndSet(const std::string& sessionId, std::int64_t expectedVersion,
                               const WorkerTransition& transition, std::int64_t atMs) = 0;

    //! Writes last_sync_status, last_sync_error and last_sync_at. Leaves the version alone:
    //! a sync changes no state, and a reaper that synced must still be able to win its
    //! compare-and-set afterwards.
    virtual void recordSync(const std::string& sessionId, const SyncRecord& record) = 0;

    //! Moves last_active_at forward to `atMs` (never back) and bumps the version, so an
    //! idle stop decided on the older record loses its compare-and-set. False when the
    //! session has no record.
    virtual bool touchActivity(const std::string& sessionId, std::int64_t atMs) = 0;
};

//! Answers whether the store can serve requests right now (for /ready).
class StoreHealth {
public:
    virtual ~StoreHealth() = default;
    //! Empty when healthy; otherwise why not, in words an operator can act on.
    virtual std::optional<std::string> unhealthyReason() = 0;
};

}  // namespace aw
