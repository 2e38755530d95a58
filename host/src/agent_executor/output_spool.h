// The executor's durable output log: every line a run prints is appended here before it is
// delivered, and delivery resumes from the last acknowledged record after a host outage or
// an executor restart, so nothing is lost and nothing is sent out of order.
#pragma once

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace aw {

//! One delivered unit: a line of stdout or stderr, or the exit of the process.
//! `event_id` is `<run id>/<stream>/<seq>`: the same record always has the same id, so the
//! host can drop duplicates of a batch it acknowledged but the executor sent again.
struct OutputRecord {
    std::string runId;
    std::string stream;  //!< stdout | stderr | exit
    std::int64_t seq = 0;  //!< dense per run and stream, from 1
    nlohmann::json body;   //!< {"line", "continued"?} or {"exit_code", "signal"}

    nlohmann::json toJson() const;
    static OutputRecord fromJson(const nlohmann::json& json);
};

class OutputSpool {
public:
    explicit OutputSpool(std::filesystem::path dir);

    void append(const OutputRecord& record);
    //! Up to `maxRecords` records after the acknowledged ones, oldest run first.
    std::vector<OutputRecord> pending(std::size_t maxRecords);
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
    std::filesystem::path logPath(const std::string& runId) const;
    std::filesystem::path cursorPath(const std::string& runId) const;

    std::filesystem::path dir_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, RunLog> runs_;
    std::vector<std::string> order_;  //!< runs in the order they first appended
};

}  // namespace aw
