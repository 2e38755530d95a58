// Which executor callbacks are stored: only a worker's own, for its session's started runs,
// and only records that fit what the run already has.
#include <gtest/gtest.h>

#include "agent_worker/core/runs/callback_admission.h"
#include "run_path_doubles.h"

namespace aw {
namespace {

class CallbackAdmissionTest : public ::testing::Test {
protected:
    void SetUp() override {
        addRun("run-a", "sess-a", RunStatus::Running);
        addRun("run-b", "sess-b", RunStatus::Running);
    }

    void addRun(const std::string& runId, const std::string& sessionId, RunStatus status) {
        RunRecord run;
        run.runId = runId;
        run.sessionId = sessionId;
        run.status = status;
        store.runs[runId] = run;
    }

    static CallbackCaller worker(const std::string& sessionId) {
        return {"local-" + sessionId, sessionId, false};
    }

    static CallbackBatch batchOf(const std::string& sessionId, const std::string& runId,
                                 std::vector<OutputRecord> records) {
        return {"local-" + sessionId, sessionId, runId, std::move(records)};
    }

    static OutputRecord line(const std::string& runId, std::int64_t seq) {
        return OutputRecord::lineOf(runId, OutputStream::Stdout, seq, "line " + std::to_string(seq),
                                    false);
    }

    static OutputRecord exitOf(const std::string& runId, std::int64_t lines, int code = 0) {
        return OutputRecord::exitOf(runId, code, std::nullopt, lines, 0);
    }

    //! Stores the records as if an earlier batch had been admitted.
    void stored(const std::vector<OutputRecord>& records) {
        std::vector<RawOutputRecord> raw;
        for (const auto& record : records) raw.push_back(toRawOutputRecord(record));
        store.insertRawOutput(raw, 0);
    }

    CallbackVerdictKind check(const CallbackCaller& caller, const CallbackBatch& batch) {
        return CallbackAdmission(
                   [this](const std::string& runId) { return store.outputState(runId); })
            .check(caller, batch)
            .kind;
    }

    testing::InMemoryRunStore store;
};

TEST_F(CallbackAdmissionTest, AWorkersOwnLinesForItsStartedRunAreAdmitted) {
    EXPECT_EQ(
        check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", 1), line("run-a", 2)})),
        CallbackVerdictKind::Admitted);
}

TEST_F(CallbackAdmissionTest, ARunOfAnotherSessionIsForbiddenWhateverTheBatchClaims) {
    // Honest about who it is, but names another session's run.
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-b", {line("run-b", 1)})),
              CallbackVerdictKind::Forbidden);
    // Claims to be the other session's executor.
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-b", "run-b", {line("run-b", 1)})),
              CallbackVerdictKind::Forbidden);
    // Claims the other executor but keeps its own session.
    CallbackBatch batch = batchOf("sess-a", "run-a", {line("run-a", 1)});
    batch.executorId = "local-sess-b";
    EXPECT_EQ(check(worker("sess-a"), batch), CallbackVerdictKind::Forbidden);
}

TEST_F(CallbackAdmissionTest, OperatorTokenStillNeedsTheRunsOwnSession) {
    const CallbackCaller operatorCaller{"", "", true};
    EXPECT_EQ(check(operatorCaller, batchOf("sess-b", "run-b", {line("run-b", 1)})),
              CallbackVerdictKind::Admitted);
    EXPECT_EQ(check(operatorCaller, batchOf("sess-a", "run-b", {line("run-b", 1)})),
              CallbackVerdictKind::Forbidden);
}

TEST_F(CallbackAdmissionTest, ARunNotStartedOnAnExecutorTakesNoOutput) {
    addRun("run-queued", "sess-a", RunStatus::Queued);
    addRun("run-starting", "sess-a", RunStatus::Starting);
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-queued", {line("run-queued", 1)})),
              CallbackVerdictKind::Invalid);
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-starting", {line("run-starting", 1)})),
              CallbackVerdictKind::Invalid);
}

TEST_F(CallbackAdmissionTest, UnknownRunIsNotFound) {
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "", {line("run-x", 1)})),
              CallbackVerdictKind::UnknownRun);
}

TEST_F(CallbackAdmissionTest, ARecordOfAnotherRunThanTheBatchsIsInvalid) {
    addRun("run-a2", "sess-a", RunStatus::Running);
    EXPECT_EQ(
        check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", 1), line("run-a2", 1)})),
        CallbackVerdictKind::Invalid);
}

TEST_F(CallbackAdmissionTest, ZeroAndNegativeSeqAreInvalid) {
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", 0)})),
              CallbackVerdictKind::Invalid);
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", -3)})),
              CallbackVerdictKind::Invalid);
}

TEST_F(CallbackAdmissionTest, SeqFarBeyondTheStoredLinesIsInvalid) {
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", kMaxSeqAhead)})),
              CallbackVerdictKind::Admitted);
    EXPECT_EQ(
        check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", kMaxSeqAhead + 1)})),
        CallbackVerdictKind::Invalid);
    // The bound moves with what is stored.
    stored({line("run-a", 500)});
    EXPECT_EQ(
        check(worker("sess-a"), batchOf("sess-a", "run-a", {line("run-a", 500 + kMaxSeqAhead)})),
        CallbackVerdictKind::Admitted);
}

TEST_F(CallbackAdmissionTest, ExitWithImpossibleLineCountsIsInvalid) {
    EXPECT_EQ(
        check(worker("sess-a"), batchOf("sess-a", "run-a", {exitOf("run-a", kMaxSeqAhead + 1)})),
        CallbackVerdictKind::Invalid);
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {exitOf("run-a", -1)})),
              CallbackVerdictKind::Invalid);
}

TEST_F(CallbackAdmissionTest, ASecondExitIsInvalidButARedeliveryIsAdmitted) {
    auto exitTwo = exitOf("run-a", 0);
    exitTwo.seq = 2;
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {exitTwo})),
              CallbackVerdictKind::Invalid);
    EXPECT_EQ(check(worker("sess-a"),
                    batchOf("sess-a", "run-a", {exitOf("run-a", 0), exitOf("run-a", 0)})),
              CallbackVerdictKind::Invalid);

    stored({line("run-a", 1), exitOf("run-a", 1)});
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {exitOf("run-a", 1)})),
              CallbackVerdictKind::Admitted);
    EXPECT_EQ(check(worker("sess-a"), batchOf("sess-a", "run-a", {exitOf("run-a", 1, 3)})),
              CallbackVerdictKind::Invalid);
}

}  // namespace
}  // namespace aw
