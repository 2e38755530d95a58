#include "db/soci_session_worker_repository.h"

#include "db/soci_statements.h"

namespace aw {
namespace {

using stmt::execute;
using stmt::NullableText;

constexpr const char* kWorkerColumns =
    "session_id, tenant_id, status, desired_status, version, runtime, workspace_s3_prefix,"
    " last_error, last_sync_status, last_sync_error, last_sync_at_ms, last_active_at_ms,"
    " state_changed_at_ms, created_at_ms, updated_at_ms, provider_sessions, provider_usage";

//! The variables one session_workers row is fetched into (kWorkerColumns, in order).
struct WorkerRow {
    std::string sessionId, tenantId, status, desired, runtime, prefix, lastError, syncStatus,
        syncError, providerSessions, providerUsage;
    soci::indicator lastErrorInd = soci::i_ok, syncErrorInd = soci::i_ok;
    long long version = 0, lastSyncAt = 0, lastActiveAt = 0, stateChangedAt = 0, createdAt = 0,
              updatedAt = 0;

    void bind(soci::details::prepare_temp_type& prep) {
        prep, soci::into(sessionId), soci::into(tenantId), soci::into(status), soci::into(desired),
            soci::into(version), soci::into(runtime), soci::into(prefix),
            soci::into(lastError, lastErrorInd), soci::into(syncStatus),
            soci::into(syncError, syncErrorInd), soci::into(lastSyncAt), soci::into(lastActiveAt),
            soci::into(stateChangedAt), soci::into(createdAt), soci::into(updatedAt),
            soci::into(providerSessions), soci::into(providerUsage);
    }

    SessionWorker get() const {
        SessionWorker worker;
        worker.sessionId = sessionId;
        worker.tenantId = tenantId;
        // The schema's CHECK constraints keep these names valid.
        worker.status = parseWorkerStatus(status).value_or(WorkerStatus::Failed);
        worker.desiredStatus = parseWorkerStatus(desired).value_or(WorkerStatus::Failed);
        worker.version = version;
        worker.runtime = runtime;
        worker.workspaceS3Prefix = prefix;
        worker.lastError = lastErrorInd == soci::i_ok ? lastError : std::string();
        worker.lastSyncStatus = parseSyncStatus(syncStatus).value_or(SyncStatus::Never);
        worker.lastSyncError = syncErrorInd == soci::i_ok ? syncError : std::string();
        worker.lastSyncAtMs = lastSyncAt;
        worker.lastActiveAtMs = lastActiveAt;
        worker.stateChangedAtMs = stateChangedAt;
        worker.createdAtMs = createdAt;
        worker.updatedAtMs = updatedAt;
        worker.providerSessionsJson = providerSessions.empty() ? "{}" : providerSessions;
        worker.providerUsageJson = providerUsage.empty() ? "{}" : providerUsage;
        return worker;
    }
};

template <typename... Values>
std::vector<SessionWorker> selectWorkers(soci::session& sql, const std::string& query,
                                         const Values&... values) {
    return stmt::select<WorkerRow>(sql, query, values...);
}

}  // namespace

std::optional<SessionWorker> SociSessionWorkerRepository::find(const std::string& sessionId) {
    return database_.withSession([&](soci::session& sql) -> std::optional<SessionWorker> {
        auto found = selectWorkers(
            sql, std::string("SELECT ") + kWorkerColumns + " FROM session_workers WHERE session_id = :sid",
            sessionId);
        if (found.empty()) return std::nullopt;
        return std::move(found.front());
    });
}

std::vector<SessionWorker> SociSessionWorkerRepository::recent(std::size_t limit) {
    return database_.withSession([&](soci::session& sql) {
        return selectWorkers(sql,
                             std::string("SELECT ") + kWorkerColumns +
                                 " FROM session_workers"
                                 " ORDER BY updated_at_ms DESC, session_id LIMIT :limit",
                             static_cast<long long>(limit));
    });
}

std::vector<SessionWorker> SociSessionWorkerRepository::listByStatus(WorkerStatus status,
                                                                     std::size_t limit) {
    return database_.withSession([&](soci::session& sql) {
        return selectWorkers(sql,
                             std::string("SELECT ") + kWorkerColumns +
                                 " FROM session_workers WHERE status = :status"
                                 " ORDER BY state_changed_at_ms, session_id LIMIT :limit",
                             std::string(toString(status)), static_cast<long long>(limit));
    });
}

bool SociSessionWorkerRepository::insertIfAbsent(const SessionWorker& worker) {
    return database_.withSession([&](soci::session& sql) {
        const long long changed = execute(
            sql,
            "INSERT INTO session_workers (session_id, tenant_id, status, desired_status, version,"
            " runtime, workspace_s3_prefix, last_error, last_sync_status, last_sync_error,"
            " last_sync_at_ms, last_active_at_ms, state_changed_at_ms, created_at_ms, updated_at_ms,"
            " provider_sessions)"
            " VALUES (:sid, :tenant, :status, :desired, :version, :runtime, :prefix, :error,"
            " :sync_status, :sync_error, :sync_at, :active_at, :changed_at, :created_at, :updated_at,"
            " :provider_sessions)"
            " ON CONFLICT DO NOTHING",
            worker.sessionId, worker.tenantId, std::string(toString(worker.status)),
            std::string(toString(worker.desiredStatus)), static_cast<long long>(worker.version),
            worker.runtime, worker.workspaceS3Prefix, NullableText(worker.lastError),
            std::string(toString(worker.lastSyncStatus)), NullableText(worker.lastSyncError),
            static_cast<long long>(worker.lastSyncAtMs), static_cast<long long>(worker.lastActiveAtMs),
            static_cast<long long>(worker.stateChangedAtMs), static_cast<long long>(worker.createdAtMs),
            static_cast<long long>(worker.updatedAtMs),
            worker.providerSessionsJson.empty() ? std::string("{}") : worker.providerSessionsJson);
        return changed == 1;
    });
}

bool SociSessionWorkerRepository::compareAndSet(const std::string& sessionId,
                                                std::int64_t expectedVersion,
                                                const WorkerTransition& transition,
                                                std::int64_t atMs) {
    const std::string status(toString(transition.status));
    const std::string desired(toString(transition.desiredStatus));
    const long long at = atMs;
    const long long expected = expectedVersion;
    return database_.withSession([&](soci::session& sql) {
        long long changed = 0;
        if (transition.lastError) {
            changed = execute(sql,
                              "UPDATE session_workers SET status = :status, desired_status = :desired,"
                              " last_error = :error, state_changed_at_ms = :changed_at,"
                              " updated_at_ms = :updated_at, version = version + 1"
                              " WHERE session_id = :sid AND version = :version",
                              status, desired, NullableText(*transition.lastError), at, at,
                              sessionId, expected);
        } else {
            changed = execute(sql,
                              "UPDATE session_workers SET status = :status, desired_status = :desired,"
                              " state_changed_at_ms = :changed_at, updated_at_ms = :updated_at,"
                              " version = version + 1"
                              " WHERE session_id = :sid AND version = :version",
                              status, desired, at, at, sessionId, expected);
        }
        return changed == 1;
    });
}

void SociSessionWorkerRepository::recordSync(const std::string& sessionId, const SyncRecord& record) {
    database_.withSession([&](soci::session& sql) {
        execute(sql,
                "UPDATE session_workers SET last_sync_status = :status, last_sync_error = :error,"
                " last_sync_at_ms = :at WHERE session_id = :sid",
                std::string(toString(record.status)), NullableText(record.error),
                static_cast<long long>(record.atMs), sessionId);
    });
}

bool SociSessionWorkerRepository::touchActivity(const std::string& sessionId, std::int64_t atMs) {
    const long long at = atMs;
    return database_.withSession([&](soci::session& sql) {
        return execute(sql,
                       "UPDATE session_workers SET last_active_at_ms = CASE WHEN last_active_at_ms"
                       " < :at1 THEN :at2 ELSE last_active_at_ms END, version = version + 1"
                       " WHERE session_id = :sid",
                       at, at, sessionId) == 1;
    });
}

}  // namespace aw
