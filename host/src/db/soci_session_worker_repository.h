// SessionWorkerStore on SOCI (SQLite or PostgreSQL): the worker records, every state change
// a compare-and-set on `version`.
#pragma once

#include "agent_worker/core/repositories.h"
#include "db/database.h"

namespace aw {

class SociSessionWorkerRepository : public SessionWorkerStore {
public:
    explicit SociSessionWorkerRepository(Database& database) : database_(database) {}

    std::optional<SessionWorker> find(const std::string& sessionId) override;
    std::vector<SessionWorker> recent(std::size_t limit) override;
    std::vector<SessionWorker> listByStatus(WorkerStatus status, std::size_t limit) override;
    bool insertIfAbsent(const SessionWorker& worker) override;
    bool compareAndSet(const std::string& sessionId, std::int64_t expectedVersion,
                       const WorkerTransition& transition, std::int64_t atMs) override;
    void recordSync(const std::string& sessionId, const SyncRecord& record) override;
    bool touchActivity(const std::string& sessionId, std::int64_t atMs) override;

private:
    Database& database_;
};

//! The name the run engine knows it by.
using SociSessionWorkerStore = SociSessionWorkerRepository;

}  // namespace aw
