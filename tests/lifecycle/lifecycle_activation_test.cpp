// What a user message does to its session's worker: the decision as a value, and the
// activation carried out through the ports.
#include "lifecycle/lifecycle_fixture.h"

namespace aw::testing {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Return;
using ::testing::Throw;
using Step = ActivationStep;

const LifecyclePolicy kPolicy;

ActivationDecision decide(const std::optional<SessionWorker>& worker, SandboxState observed) {
    return LifecycleManager::decideActivation(worker, observed, kNow, kPolicy);
}

SessionWorker withStatus(WorkerStatus status, std::int64_t lastSyncAtMs = kNow - kDay) {
    SessionWorker worker;
    worker.sessionId = "chat-1";
    worker.status = status;
    worker.lastSyncStatus = lastSyncAtMs > 0 ? SyncStatus::Succeeded : SyncStatus::Never;
    worker.lastSyncAtMs = lastSyncAtMs;
    worker.stateChangedAtMs = kNow - kDay;
    return worker;
}

TEST(ActivationDecision, NewSessionCreatesStartsRestoresAndRuns) {
    const ActivationDecision decision = decide(std::nullopt, SandboxState::Missing);
    EXPECT_EQ(decision.path, ActivationPath::CreateStartRestoreRun);
    EXPECT_THAT(decision.steps, ElementsAre(Step::Create, Step::Start, Step::Restore, Step::Run));
    EXPECT_EQ(decision.restoreSituation, RestoreSituation::NewWorker);
}

TEST(ActivationDecision, RunningWorkerJustRuns) {
    const ActivationDecision decision =
        decide(withStatus(WorkerStatus::Running), SandboxState::Running);
    EXPECT_EQ(decision.path, ActivationPath::Run);
    EXPECT_THAT(decision.steps, ElementsAre(Step::Run));
    EXPECT_FALSE(decision.restoreSituation.has_value());
}

TEST(ActivationDecision, StoppedWorkerStartsAndRestoresOnlyWhatItLacks) {
    const ActivationDecision decision =
        decide(withStatus(WorkerStatus::Stopped), SandboxState::Stopped);
    EXPECT_EQ(decision.path, ActivationPath::StartRestoreRun);
    EXPECT_THAT(decision.steps, ElementsAre(Step::Start, Step::Restore, Step::Run));
    EXPECT_EQ(decision.restoreSituation, RestoreSituation::StoppedWithFiles);
}

TEST(ActivationDecision, RemovedOrDeletedWorkerIsRecreatedFromStorage) {
    for (WorkerStatus status : {WorkerStatus::Removed, WorkerStatus::Deleted}) {
        const ActivationDecision decision = decide(withStatus(status), SandboxState::Missing);
        EXPECT_EQ(decision.path, ActivationPath::CreateStartRestoreRun) << toString(status);
        EXPECT_FALSE(decision.includes(Step::MarkDeleted));
        EXPECT_EQ(decision.restoreSituation, RestoreSituation::Recreated);
    }
}

TEST(ActivationDecision, MissingContainerMeansMarkDeletedThenRecreate) {
    for (WorkerStatus status :
         {WorkerStatus::Running, WorkerStatus::Stopped, WorkerStatus::Stopping}) {
        SessionWorker worker = withStatus(status);
        const ActivationDecision decision = decide(worker, SandboxState::Missing);
        EXPECT_EQ(decision.path, ActivationPath::RecreateAfterDeletion) << toString(status);
        EXPECT_THAT(decision.steps, ElementsAre(Step::MarkDeleted, Step::Create, Step::Start,
                                                Step::Restore, Step::Run));
        EXPECT_EQ(decision.restoreSituation, RestoreSituation::Recreated);
    }
}

TEST(ActivationDecision, VanishedWorkerThatNeverSyncedStartsEmpty) {
    const ActivationDecision decision =
        decide(withStatus(WorkerStatus::Running, 0), SandboxState::Missing);
    EXPECT_TRUE(decision.includes(Step::MarkDeleted));
    EXPECT_EQ(decision.restoreSituation, RestoreSituation::NewWorker);
}

TEST(ActivationDecision, TransitionInProgressWaits) {
    SessionWorker worker = withStatus(WorkerStatus::Stopping);
    worker.stateChangedAtMs = kNow - kMinute;
    const ActivationDecision decision = decide(worker, SandboxState::Running);
    EXPECT_EQ(decision.path, ActivationPath::WaitForTransition);
    EXPECT_TRUE(decision.steps.empty());
}

TEST(ActivationDecision, StuckTransitionIsDecidedByWhatTheRuntimeSees) {
    SessionWorker worker = withStatus(WorkerStatus::Stopping);
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    EXPECT_EQ(decide(worker, SandboxState::Stopped).path, ActivationPath::StartRestoreRun);
    EXPECT_EQ(decide(worker, SandboxState::Missing).path, ActivationPath::RecreateAfterDeletion);
}

TEST(ActivationDecision, RunningSandboxOfAFailedWorkerIsRestoredBeforeRunning) {
    const ActivationDecision decision =
        decide(withStatus(WorkerStatus::Failed), SandboxState::Running);
    EXPECT_EQ(decision.path, ActivationPath::AdoptRunning);
    EXPECT_THAT(decision.steps, ElementsAre(Step::Restore, Step::Run));
    EXPECT_EQ(decision.restoreSituation, RestoreSituation::Adopted);
}

using Activate = LifecycleTest;

WorkerSpec spec(const std::string& sessionId) {
    return WorkerSpec{sessionId, "acme", "docker",
                      "s3://agent-workspaces/prod/acme/" + sessionId + "/"};
}

TEST_F(Activate, FirstMessageCreatesTheRecordAndTheSandbox) {
    {
        InSequence order;
        EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Missing));
        EXPECT_CALL(runtime, create(_));
        EXPECT_CALL(runtime, start(_));
    }

    const Activation activation = manager.activate(spec("chat-new"));

    EXPECT_EQ(activation.decision.path, ActivationPath::CreateStartRestoreRun);
    EXPECT_EQ(activation.decision.restoreSituation, RestoreSituation::NewWorker);
    EXPECT_EQ(record("chat-new").status, WorkerStatus::Creating);
    EXPECT_EQ(record("chat-new").workspaceS3Prefix, "s3://agent-workspaces/prod/acme/chat-new/");
    EXPECT_EQ(record("chat-new").lastActiveAtMs, kNow);

    const SessionWorker ready = manager.completeActivation(activation, std::nullopt);

    EXPECT_EQ(ready.status, WorkerStatus::Running);
    EXPECT_EQ(record("chat-new").status, WorkerStatus::Running);
}

TEST_F(Activate, MissingContainerMarksWorkerDeleted) {
    SessionWorker worker = idleRunning("chat-1");
    worker.lastSyncStatus = SyncStatus::Succeeded;
    worker.lastSyncAtMs = kNow - 10 * kMinute;
    put(worker);
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Missing));
    EXPECT_CALL(runtime, create(_));
    EXPECT_CALL(runtime, start(_));

    const Activation activation = manager.activate(spec("chat-1"));

    EXPECT_EQ(activation.decision.path, ActivationPath::RecreateAfterDeletion);
    EXPECT_EQ(activation.decision.restoreSituation, RestoreSituation::Recreated);
    EXPECT_THAT(store.history["chat-1"],
                ElementsAre(WorkerStatus::Deleted, WorkerStatus::Creating));
    EXPECT_THAT(record("chat-1").lastError, HasSubstr("vanished"));
}

TEST_F(Activate, RunningWorkerRunsWithoutAnyTransition) {
    put(idleRunning("chat-1"));
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Running));

    const Activation activation = manager.activate(spec("chat-1"));

    EXPECT_EQ(activation.decision.path, ActivationPath::Run);
    EXPECT_TRUE(store.history["chat-1"].empty());
    EXPECT_EQ(record("chat-1").lastActiveAtMs, kNow);
    EXPECT_EQ(manager.completeActivation(activation, std::nullopt).status, WorkerStatus::Running);
}

TEST_F(Activate, FailedRestoreLeavesWorkerFailedSoTheNextMessageRestoresAgain) {
    put(longStoppedSynced("chat-1"));
    EXPECT_CALL(runtime, inspect(_))
        .WillOnce(Return(SandboxState::Stopped))
        .WillOnce(Return(SandboxState::Running));
    EXPECT_CALL(runtime, start(_));
    const Activation first = manager.activate(spec("chat-1"));

    manager.completeActivation(
        first, Problem{"restore_validation_failed", "required paths missing: /workspace", ""});

    EXPECT_EQ(record("chat-1").status, WorkerStatus::Failed);
    EXPECT_THAT(record("chat-1").lastError, HasSubstr("/workspace"));
    const Activation second = manager.activate(spec("chat-1"));
    EXPECT_EQ(second.decision.path, ActivationPath::AdoptRunning);
    EXPECT_TRUE(second.decision.includes(Step::Restore));
}

TEST_F(Activate, RuntimeFailureMarksWorkerFailed) {
    put(longStoppedSynced("chat-1"));
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Stopped));
    EXPECT_CALL(runtime, start(_))
        .WillOnce(Throw(ProblemError(Problem{"runtime_unavailable", "no space left", ""})));

    try {
        manager.activate(spec("chat-1"));
        FAIL() << "expected worker_start_failed";
    } catch (const ProblemError& error) {
        EXPECT_EQ(error.problem().code, "worker_start_failed");
        EXPECT_THAT(error.problem().message, HasSubstr("no space left"));
    }
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Failed);
}

TEST_F(Activate, ConcurrentChangeMakesActivationBackOff) {
    put(longStoppedSynced("chat-1"));
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Stopped));
    // Another host claims the record between our read and our claim; we must not start it.
    store.beforeCompareAndSet = [&] { ++store.records.at("chat-1").version; };

    try {
        manager.activate(spec("chat-1"));
        FAIL() << "expected worker_busy";
    } catch (const ProblemError& error) {
        EXPECT_EQ(error.problem().code, "worker_busy");
    }
}

TEST_F(Activate, MessagesDuringCreationDoNotBlockItsCompletion) {
    put(longStoppedSynced("chat-1"));
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Stopped));
    EXPECT_CALL(runtime, start(_));
    const Activation activation = manager.activate(spec("chat-1"));

    store.touchActivity("chat-1", kNow + 1);  // a second message while restoring

    EXPECT_EQ(manager.completeActivation(activation, std::nullopt).status, WorkerStatus::Running);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Running);
}

TEST_F(Activate, InvalidSessionIdNeverReachesTheStoreOrTheRuntime) {
    try {
        manager.activate(spec("../chat"));
        FAIL() << "expected invalid_session";
    } catch (const ProblemError& error) {
        EXPECT_EQ(error.problem().code, "invalid_session");
    }
    EXPECT_TRUE(store.records.empty());
}

TEST_F(Activate, WorkerInTransitionMakesTheMessageWait) {
    SessionWorker worker = base("chat-1", WorkerStatus::Stopping);
    worker.stateChangedAtMs = kNow - kMinute;
    put(worker);
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Running));

    const Activation activation = manager.activate(spec("chat-1"));

    EXPECT_EQ(activation.decision.path, ActivationPath::WaitForTransition);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopping);
}

TEST_F(Activate, SyncWritesItsOutcomeBackEveryTime) {
    put(idleRunning("chat-1"));
    EXPECT_CALL(syncer, syncWorkspace(_, std::string_view(kSyncReasonMessageStop)))
        .WillOnce(Return(syncSucceeded()))
        .WillOnce(Return(syncFailed("timeout")));

    manager.syncWorkspace(record("chat-1"), kSyncReasonMessageStop);
    EXPECT_EQ(record("chat-1").lastSyncStatus, SyncStatus::Succeeded);
    EXPECT_EQ(record("chat-1").lastSyncError, "");
    clock.now += kMinute;
    manager.syncWorkspace(record("chat-1"), kSyncReasonMessageStop);

    EXPECT_EQ(store.syncWrites, 2);
    EXPECT_EQ(record("chat-1").lastSyncStatus, SyncStatus::Failed);
    EXPECT_EQ(record("chat-1").lastSyncError, "timeout");
    EXPECT_EQ(record("chat-1").lastSyncAtMs, kNow + kMinute);
}

//! A runtime whose stopped sandboxes come back empty (a Swarm service's next task may run on
//! another node).
class FilelessWhileStopped : public MockWorkerRuntime {
public:
    bool keepsFilesWhileStopped() const override { return false; }
};

TEST_F(Activate, AStoppedWorkerOfARuntimeThatKeepsNoFilesIsRestoredInFull) {
    ::testing::NiceMock<FilelessWhileStopped> fileless;
    LifecycleManager swarm(store, fileless, syncer, runs, clock, policy);
    SessionWorker worker = idleRunning("chat-1");
    worker.status = WorkerStatus::Stopped;
    worker.lastSyncStatus = SyncStatus::Succeeded;
    worker.lastSyncAtMs = kNow - 10 * kMinute;
    put(worker);
    ON_CALL(fileless, inspect(_)).WillByDefault(Return(SandboxState::Stopped));

    EXPECT_EQ(
        manager.decideActivation(worker, SandboxState::Stopped, kNow, policy).restoreSituation,
        RestoreSituation::StoppedWithFiles)
        << "a runtime that keeps files restores links only";
    const Activation activation = swarm.activate(spec("chat-1"));

    EXPECT_EQ(activation.decision.path, ActivationPath::StartRestoreRun);
    EXPECT_EQ(activation.decision.restoreSituation, RestoreSituation::Recreated);
}

}  // namespace
}  // namespace aw::testing
