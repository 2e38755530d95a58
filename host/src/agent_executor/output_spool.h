// The executor's durable output log: every line a run prints is appended here before it is
// delivered, and delivery resumes from the last acknowledged record after a host outage or
// an executor restart, so nothing is lost and nothing is sent out of order. Each run's
// trace id is kept with it, so every callback of the run carries the trace its start came
// with, also after a restart. Records are kept as the JSON text written to the log, which
// is also what goes on the wire: each is encoded once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent_worker/core/executor_protocol.h"

namespace aw {

//! Records of one run, oldest first (their JSON text), with the trace id to deliver them
//! under.
struct PendingBatch {
    std::string runId;
    std::string traceId;
    std::vector<std::string> records;

    bool empty() const { return records.empty(); }
};

class OutputSpool {
public:
    //! Reads what an earlier executor on `dir` left: its runs, trace ids and unacknowledged
    //! records.
    explicit OutputSpool(std::filesystem::path dir);
    ~OutputSpool();
    OutputSpool(const OutputSpool&) = delete;
    OutputSpool& operator=(const OutputSpool&) = delete;

    //! Records the run's trace id durably (`<run>.trace`), before its first record. A run
    //! that already has one keeps it: a retried start does not change the trace.
    void beginRun(const std::string& runId, const std::string& traceId);
    //! The run's trace id; empty for a run never begun.
    std::string traceId(const std::string& runId);

    //! Appends a group of records of one run, in order, with a single write to its log
    //! (kept open until its exit record): once this returns they survive an executor crash
    //! (not a machine crash: no fsync) and are pending.
    void append(const std::vector<OutputRecord>& records);
    //! Up to `maxRecords` records after the acknowledged ones, of the oldest run that has
    //! any (one run per batch keeps each batch in one run's order).
    PendingBatch pending(std::size_t maxRecords);
    //! Marks the first `count` pending records of `runId` as delivered (durably).
    void acknowledge(const std::string& runId, std::size_t count);
    //! The host refused the run's pending records for good: its lines not yet delivered,
    //! and those it prints from now on, are given up (durably, `<run>.lost`), and its exit
    //! record, when it comes, says how many and why (`lost_*`), so that the host can end
    //! the run. Refused again (the exit itself), the run is given up whole.
    void giveUp(const std::string& runId, const std::string& reason);
    //! Waits until something is pending or `timeout` passes.
    bool waitForPending(std::chrono::milliseconds timeout);
    void wake();

private:
    //! A record as the log holds it.
    struct Spooled {
        OutputStream stream;
        std::string json;
    };
    struct RunLog {
        std::string traceId;
        std::deque<Spooled> unacknowledged;       //!< kept in memory until delivered
        std::size_t acknowledged = 0;             //!< records delivered, durably counted
        std::size_t appended = 0;                 //!< records in the log file
        //! Given up from this record of the log on (lines lost, the exit kept): see giveUp.
        std::optional<std::size_t> lostFrom;
        std::string lostReason;
        std::int64_t lostStdout = 0, lostStderr = 0;
        int fd = -1;  //!< the log, open for appending while the run may append
    };
    //! Takes `record` (the log's next one) into `log`'s pending records, or counts it lost.
    static void admit(RunLog& log, Spooled record);
    void load();
    //! The run's log, registered in delivery order on first use. Needs `mutex_`.
    RunLog& logOf(const std::string& runId);
    std::filesystem::path logPath(const std::string& runId) const;
    std::filesystem::path cursorPath(const std::string& runId) const;
    std::filesystem::path tracePath(const std::string& runId) const;
    std::filesystem::path lostPath(const std::string& runId) const;

    std::filesystem::path dir_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, RunLog> runs_;
    std::vector<std::string> order_;  //!< runs in the order they began
};

}  // namespace aw
