// The executor's durable output log: every line a run prints is appended here before it is
// delivered, and delivery resumes from the last acknowledged record after a host outage or
// an executor restart, so nothing is lost and nothing is sent out of order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent_worker/core/executor_protocol.h"

namespace aw {

//! Records of one run, oldest first.
struct PendingBatch {
    std::string runId;
    std::vector<OutputRecord> records;

    bool empty() const { return records.empty(); }
};

class OutputSpool {
public:
    //! Reads what an earlier executor on `dir` left: its runs and unacknowledged records.
    explicit OutputSpool(std::filesystem::path dir);

    void append(const OutputRecord& record);
    //! Up to `maxRecords` records after the acknowledged ones, of the oldest run that has
    //! any (one run per batch keeps each batch in one run's order).
    PendingBatch pending(std::size_t maxRecords);
    //! Marks the first `count` pending records of `runId` as delivered (durably).
    void acknowledge(const std::string& runId, std::size_t count);
    //! Waits until something is pending or `timeout` passes.
    bool waitForPending(std::chrono::milliseconds timeout);
    void wake();

private:
    struct RunLog {
        std::deque<OutputRecord> unacknowledged;  //!< kept in memory until delivered
        std::size_t acknowledged = 0;             //!< records delivered, durably counted
    };
    void load();
    //! The run's log, registered in delivery order on first use. Needs `mutex_`.
    RunLog& logOf(const std::string& runId);
    std::filesystem::path logPath(const std::string& runId) const;
    std::filesystem::path cursorPath(const std::string& runId) const;

    std::filesystem::path dir_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, RunLog> runs_;
    std::vector<std::string> order_;  //!< runs in the order they first appended
};

}  // namespace aw
