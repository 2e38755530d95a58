// RunStore and RunQueue on SOCI: the same statements on SQLite and PostgreSQL (named
// placeholders, INSERT ... ON CONFLICT DO NOTHING), JSON as text, times as Unix ms.
// One class, one file per job: soci_run_store.cpp (runs), soci_run_events.cpp (events and
// the state they derive), soci_run_raw_output.cpp, soci_run_queue.cpp (RunQueue); what
// they share is in soci_run_rows.h.
#pragma once

#include <atomic>
#include <chrono>

#include "agent_worker/core/run_store.h"
#include "db/database.h"

namespace aw {

class SociRunStore : public RunStore, public RunQueue {
public:
    //! Claims delete entries that ended more than `queueDoneRetention` ago (0: never). On
    //! PostgreSQL each append that stored events is announced to the other hosts on the
    //! database as `hostId`'s (PgEventListener).
    explicit SociRunStore(Database& database, std::chrono::milliseconds queueDoneRetention = {},
                          std::string hostId = {})
        : database_(database), doneRetention_(queueDoneRetention), hostId_(std::move(hostId)) {}

    // RunStore
    CreatedRun createRun(const NewRun& run) override;
    std::optional<RunRecord> findRun(const std::string& runId) override;
    std::optional<RunDetail> runDetail(const std::string& runId) override;
    std::vector<StoredEvent> events(const std::string& runId, std::int64_t afterSeq,
                                    std::size_t limit) override;
    std::vector<EventText> eventTexts(const std::string& runId, std::int64_t afterSeq,
                                      std::size_t limit) override;
    std::int64_t lastSeq(const std::string& runId) override;
    std::vector<StoredEvent> appendEvents(const std::string& runId, std::vector<NewEvent> events,
                                          const RawProgress& progress, std::int64_t nowMs) override;
    std::vector<RawOutputRecord> insertRawOutput(const std::vector<RawOutputRecord>& records,
                                                 std::int64_t nowMs) override;
    std::optional<std::vector<RawOutputRecord>> admitRawOutput(
        const std::vector<RawOutputRecord>& records, const RawOutputAdmit& admit,
        std::int64_t nowMs) override;
    std::vector<RawOutputRecord> rawOutput(const std::string& runId,
                                           const std::string& stream) override;
    RawOutputPosition rawOutputPosition(const std::string& runId) override;
    std::vector<RawOutputRecord> rawOutputAfter(const std::string& runId,
                                                std::int64_t afterSeq) override;
    //! PostgreSQL: NOTIFY on kRunOutputChannel, as this host's.
    void announceOutput(const std::string& runId) override;
    bool markStarting(const std::string& runId, int attempts, std::int64_t nowMs) override;
    bool requestStop(const std::string& runId, std::int64_t nowMs) override;
    std::optional<HumanLoopRecord> humanRequest(const std::string& runId,
                                                const std::string& requestId) override;
    std::vector<HumanLoopRecord> pendingHumanRequests(const std::string& runId) override;
    std::vector<HumanLoopRecord> expiredHumanRequests(std::int64_t createdBeforeMs) override;
    bool forwardHumanReply(const std::string& runId, const std::string& requestId,
                           const std::string& replyJson) override;
    void settleForwardedReply(const std::string& runId, const std::string& requestId,
                              const std::string& error) override;
    std::vector<TodoItem> todos(const std::string& sessionId) override;
    std::vector<RunRecord> recentRuns(const std::string& sessionId, std::size_t limit) override;
    std::vector<RunRecord> runsWithStatus(const std::vector<RunStatus>& statuses,
                                          std::size_t limit) override;
    std::vector<RunStatus> unfinishedRunStatuses(const std::string& sessionId) override;

    // RunQueue
    std::vector<QueueEntry> claim(const std::string& holder, std::int64_t nowMs,
                                  std::int64_t leaseMs, std::size_t limit) override;
    std::size_t expireLeasesOf(const std::string& holder, std::int64_t nowMs) override;
    bool extendLease(std::int64_t queueId, const std::string& holder, std::int64_t untilMs,
                     std::int64_t nowMs) override;
    bool finish(std::int64_t queueId, const std::string& holder, QueueStatus status,
                const std::string& error, std::int64_t nowMs) override;
    std::optional<QueueStatus> retryLater(std::int64_t queueId, const std::string& holder,
                                          std::int64_t availableAtMs, const std::string& error,
                                          std::int64_t nowMs) override;
    std::optional<QueueEntry> findByRun(const std::string& runId) override;
    std::vector<QueueEntry> list(std::optional<QueueStatus> status, std::size_t limit) override;

    //! The statement a claim runs (for EXPLAIN in the bench and the tests).
    static std::string claimStatement(Dialect dialect);
    //! PostgreSQL's statement that appends a batch of events (for EXPLAIN in the tests).
    static std::string appendStatement();

private:
    //! Deletes a batch of the finished entries past the retention, when a prune is due.
    void pruneDone(std::int64_t nowMs);

    Database& database_;
    std::chrono::milliseconds doneRetention_;
    std::string hostId_;
    std::atomic<std::int64_t> nextPruneMs_{0};  //!< in the claims' clock
};

}  // namespace aw
