#include "db/store_counts.h"

#include <soci/soci.h>

#include <vector>

#include "db/database.h"

namespace aw {

std::map<std::string, std::int64_t> StoreCounts::countByStatus(const std::string& table) {
    return database_.withSession([&](soci::session& sql) {
        // The statuses are a short fixed list (CHECK constraints): one fetch holds them all.
        std::vector<std::string> statuses(64);
        std::vector<long long> counts(64);
        sql << "SELECT status, COUNT(*) FROM " + table + " GROUP BY status", soci::into(statuses),
            soci::into(counts);
        std::map<std::string, std::int64_t> byStatus;
        for (std::size_t i = 0; i < statuses.size(); ++i) byStatus[statuses[i]] = counts[i];
        return byStatus;
    });
}

std::map<std::string, std::int64_t> StoreCounts::runsByStatus() {
    return countByStatus("runs");
}

std::map<std::string, std::int64_t> StoreCounts::queueEntriesByStatus() {
    return countByStatus("run_queue");
}

std::map<std::string, std::int64_t> StoreCounts::workersByStatus() {
    return countByStatus("session_workers");
}

std::optional<std::int64_t> StoreCounts::oldestReadyAgeMs(std::int64_t nowMs) {
    return database_.withSession([&](soci::session& sql) -> std::optional<std::int64_t> {
        const long long now = nowMs;  // bound by reference until the statement has run
        long long oldest = 0;
        soci::indicator found = soci::i_null;
        sql << "SELECT MIN(available_at_ms) FROM run_queue"
               " WHERE status IN ('queued', 'retry_wait') AND available_at_ms <= :now",
            soci::use(now), soci::into(oldest, found);
        if (found != soci::i_ok) return std::nullopt;
        return nowMs - oldest;
    });
}

}  // namespace aw
