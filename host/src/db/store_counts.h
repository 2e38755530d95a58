// What /metrics reads of the database when scraped: rows by status of the runs, the run
// queue and the session workers, and how long the oldest ready queue entry has waited.
// Each is one indexed query; a scrape every few seconds costs a few of them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace aw {

class Database;

class StoreCounts {
public:
    explicit StoreCounts(Database& database) : database_(database) {}

    std::map<std::string, std::int64_t> runsByStatus();
    //! The live queue (finished entries are moved to run_queue_done).
    std::map<std::string, std::int64_t> queueEntriesByStatus();
    std::map<std::string, std::int64_t> workersByStatus();
    //! Milliseconds since the oldest entry that is ready now (queued or retry_wait, its
    //! time come) became ready; nullopt when none is.
    std::optional<std::int64_t> oldestReadyAgeMs(std::int64_t nowMs);

private:
    std::map<std::string, std::int64_t> countByStatus(const std::string& table);

    Database& database_;
};

}  // namespace aw
