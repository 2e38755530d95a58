// SessionWorkerRepository on SOCI (SQLite or PostgreSQL).
#pragma once

#include "agent_worker/core/repositories.h"
#include "db/database.h"

namespace aw {

class SociSessionWorkerRepository : public SessionWorkerRepository {
public:
    explicit SociSessionWorkerRepository(Database& database) : database_(database) {}
    std::optional<SessionWorker> find(const std::string& sessionId) override;

private:
    Database& database_;
};

}  // namespace aw
