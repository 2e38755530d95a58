#include "db/soci_session_worker_repository.h"

namespace aw {

std::optional<SessionWorker> SociSessionWorkerRepository::find(const std::string& sessionId) {
    return database_.withSession([&](soci::session& sql) -> std::optional<SessionWorker> {
        SessionWorker worker;
        std::string status, desired, syncStatus;
        long long version = 0, lastSyncAt = 0, lastActiveAt = 0, createdAt = 0, updatedAt = 0;
        soci::indicator syncErrorInd = soci::i_null;
        sql << "SELECT session_id, tenant_id, status, desired_status, version, runtime,"
               " workspace_s3_prefix, last_sync_status, last_sync_error, last_sync_at_ms,"
               " last_active_at_ms, created_at_ms, updated_at_ms, provider_sessions"
               " FROM session_workers WHERE session_id = :sid",
            soci::use(sessionId), soci::into(worker.sessionId), soci::into(worker.tenantId),
            soci::into(status), soci::into(desired), soci::into(version), soci::into(worker.runtime),
            soci::into(worker.workspaceS3Prefix), soci::into(syncStatus),
            soci::into(worker.lastSyncError, syncErrorInd), soci::into(lastSyncAt),
            soci::into(lastActiveAt), soci::into(createdAt), soci::into(updatedAt),
            soci::into(worker.providerSessionsJson);
        if (!sql.got_data()) return std::nullopt;
        if (syncErrorInd != soci::i_ok) worker.lastSyncError.clear();
        // The schema's CHECK constraints keep these names valid.
        worker.status = parseWorkerStatus(status).value_or(WorkerStatus::Failed);
        worker.desiredStatus = parseWorkerStatus(desired).value_or(WorkerStatus::Failed);
        worker.lastSyncStatus = parseSyncStatus(syncStatus).value_or(SyncStatus::Never);
        worker.version = version;
        worker.lastSyncAtMs = lastSyncAt;
        worker.lastActiveAtMs = lastActiveAt;
        worker.createdAtMs = createdAt;
        worker.updatedAtMs = updatedAt;
        return worker;
    });
}

}  // namespace aw
