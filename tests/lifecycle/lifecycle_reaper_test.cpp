// The reaper passes: idle stop, long-stopped remove and stuck-transition recovery, driven
// through GoogleMock doubles of the runtime and the sync, on an in-memory store with real
// compare-and-set.
#include "lifecycle/lifecycle_fixture.h"

namespace aw::testing {
namespace {

using ::testing::_;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::Return;
using ::testing::Throw;

using IdleStop = LifecycleTest;
using LongStoppedRemoval = LifecycleTest;
using StuckTransitions = LifecycleTest;

TEST_F(IdleStop, StopAlwaysSyncsFirst) {
    put(idleRunning("chat-1"));
    {
        InSequence order;
        EXPECT_CALL(syncer, syncWorkspace(Field(&SessionWorker::sessionId, "chat-1"),
                                          Eq(kSyncReasonIdleStop)))
            .WillOnce(Return(syncSucceeded()));
        EXPECT_CALL(runtime, stop(Field(&SessionWorker::sessionId, "chat-1")))
            .WillOnce([&](const SessionWorker&) {
                // By the time the sandbox stops, the successful sync is on the record.
                EXPECT_EQ(record("chat-1").lastSyncStatus, SyncStatus::Succeeded);
                EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopping);
            });
    }

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.checked, 1u);
    EXPECT_EQ(report.acted, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
    EXPECT_EQ(record("chat-1").desiredStatus, WorkerStatus::Stopped);
    EXPECT_EQ(record("chat-1").lastSyncAtMs, kNow);
    EXPECT_EQ(store.history["chat-1"],
              (std::vector{WorkerStatus::Stopping, WorkerStatus::Stopped}));
}

TEST_F(IdleStop, SyncFailureForbidsStop) {
    put(idleRunning("chat-1"));
    EXPECT_CALL(syncer, syncWorkspace(_, _)).WillOnce(Return(syncFailed("s3: connection refused")));
    EXPECT_CALL(runtime, stop(_)).Times(0);

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(report.acted, 0u);
    EXPECT_THAT(report.workers.at(0).reason, HasSubstr("s3: connection refused"));
    const SessionWorker& worker = record("chat-1");
    EXPECT_EQ(worker.status, WorkerStatus::Running);
    EXPECT_EQ(worker.lastSyncStatus, SyncStatus::Failed);
    EXPECT_EQ(worker.lastSyncError, "s3: connection refused");
    EXPECT_EQ(worker.lastSyncAtMs, kNow);
    EXPECT_TRUE(store.history["chat-1"].empty());
}

TEST_F(IdleStop, ThrowingSyncIsRecordedAsAFailedSync) {
    put(idleRunning("chat-1"));
    EXPECT_CALL(syncer, syncWorkspace(_, _))
        .WillOnce(Throw(ProblemError(Problem{"executor_unreachable", "executor timed out", ""})));

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Running);
    EXPECT_EQ(record("chat-1").lastSyncStatus, SyncStatus::Failed);
    EXPECT_EQ(record("chat-1").lastSyncError, "executor timed out");
}

TEST_F(IdleStop, WaitingHumanCountsAsActive) {
    put(idleRunning("chat-1"));
    ON_CALL(runs, unfinishedRunStatuses("chat-1"))
        .WillByDefault(Return(std::vector{RunStatus::WaitingHuman}));
    // StrictMock: neither a sync nor a stop may happen.

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.skipped, 1u);
    EXPECT_THAT(report.workers.at(0).reason, HasSubstr("waiting_human"));
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Running);
}

TEST_F(IdleStop, RecentlyActiveWorkerKeepsRunning) {
    SessionWorker worker = idleRunning("chat-1");
    worker.lastActiveAtMs = kNow - 29 * kMinute;
    put(worker);

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Running);
}

TEST_F(IdleStop, TwoReapersNeverStopTheSameWorkerTwice) {
    put(idleRunning("chat-1"));
    LifecycleManager otherReaper = anotherHost();
    ReaperReport otherReport;
    // The first reaper is still syncing when the second runs a whole pass on the same record.
    EXPECT_CALL(syncer, syncWorkspace(_, _))
        .WillOnce([&](const SessionWorker&, std::string_view) {
            otherReport = otherReaper.stopIdleWorkers();
            return syncSucceeded();
        })
        .WillOnce(Return(syncSucceeded()));
    EXPECT_CALL(runtime, stop(_)).Times(1);

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(otherReport.acted, 1u);
    EXPECT_EQ(report.acted, 0u);
    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
    EXPECT_EQ(store.history["chat-1"],
              (std::vector{WorkerStatus::Stopping, WorkerStatus::Stopped}));
}

TEST_F(IdleStop, MessageArrivingDuringTheSyncCancelsTheStop) {
    put(idleRunning("chat-1"));
    EXPECT_CALL(syncer, syncWorkspace(_, _)).WillOnce([&](const SessionWorker&, std::string_view) {
        store.touchActivity("chat-1", kNow);
        return syncSucceeded();
    });
    EXPECT_CALL(runtime, stop(_)).Times(0);

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Running);
}

TEST_F(IdleStop, StopFailureKeepsWorkerRunningAndSaysWhy) {
    put(idleRunning("chat-1"));
    EXPECT_CALL(syncer, syncWorkspace(_, _)).WillOnce(Return(syncSucceeded()));
    EXPECT_CALL(runtime, stop(_))
        .WillOnce(Throw(ProblemError(Problem{"runtime_unavailable", "docker daemon down", ""})));

    const ReaperReport report = manager.stopIdleWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Running);
    EXPECT_THAT(record("chat-1").lastError, HasSubstr("docker daemon down"));
}

TEST_F(IdleStop, ReportCountsEveryWorkerOnce) {
    put(idleRunning("chat-stop"));
    put(idleRunning("chat-fail"));
    SessionWorker busy = idleRunning("chat-busy");
    busy.lastActiveAtMs = kNow;
    put(busy);
    EXPECT_CALL(syncer, syncWorkspace(Field(&SessionWorker::sessionId, "chat-stop"), _))
        .WillOnce(Return(syncSucceeded()));
    EXPECT_CALL(syncer, syncWorkspace(Field(&SessionWorker::sessionId, "chat-fail"), _))
        .WillOnce(Return(syncFailed("quota exceeded")));
    EXPECT_CALL(runtime, stop(_)).Times(1);

    const nlohmann::json json = manager.stopIdleWorkers().toJson();

    EXPECT_EQ(json["checked"], 3);
    EXPECT_EQ(json["stopped"], 1);
    EXPECT_EQ(json["failed"], 1);
    EXPECT_EQ(json["skipped"], 1);
    EXPECT_EQ(json["workers"].size(), 3u);
}

TEST_F(LongStoppedRemoval, LongStoppedSyncedWorkerIsRemoved) {
    put(longStoppedSynced("chat-1"));
    EXPECT_CALL(runtime, remove(Field(&SessionWorker::sessionId, "chat-1"))).Times(1);

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(report.acted, 1u);
    EXPECT_EQ(report.toJson()["removed"], 1);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Removed);
    EXPECT_EQ(store.history["chat-1"],
              (std::vector{WorkerStatus::Removing, WorkerStatus::Removed}));
}

TEST_F(LongStoppedRemoval, SyncFailureForbidsRemove) {
    SessionWorker worker = longStoppedSynced("chat-1");
    worker.lastSyncStatus = SyncStatus::Failed;
    worker.lastSyncError = "bucket not found";
    put(worker);
    EXPECT_CALL(runtime, remove(_)).Times(0);

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_THAT(report.workers.at(0).reason, HasSubstr("bucket not found"));
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
}

TEST_F(LongStoppedRemoval, MissingSyncForbidsRemove) {
    SessionWorker worker = longStoppedSynced("chat-1");
    worker.lastSyncStatus = SyncStatus::Never;
    worker.lastSyncAtMs = 0;
    put(worker);
    EXPECT_CALL(runtime, remove(_)).Times(0);

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_THAT(report.workers.at(0).reason, HasSubstr("never synced"));
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
}

TEST_F(LongStoppedRemoval, RemoveNeedsASyncNewerThanTheLastActivity) {
    SessionWorker worker = longStoppedSynced("chat-1");
    worker.lastSyncAtMs = worker.lastActiveAtMs - kMinute;  // succeeded, but before the activity
    put(worker);
    EXPECT_CALL(runtime, remove(_)).Times(0);

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_THAT(report.workers.at(0).reason, HasSubstr("before the last activity"));
}

TEST_F(LongStoppedRemoval, RecentlyStoppedWorkerIsKept) {
    SessionWorker worker = longStoppedSynced("chat-1");
    worker.stateChangedAtMs = kNow - kDay;
    put(worker);

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
}

TEST_F(LongStoppedRemoval, TwoHostsNeverRemoveTheSameWorkerTwice) {
    put(longStoppedSynced("chat-1"));
    LifecycleManager otherHost = anotherHost();
    ReaperReport otherReport;
    // Both hosts read the stopped record; the other one's whole pass lands first.
    store.beforeCompareAndSet = [&] { otherReport = otherHost.removeLongStoppedWorkers(); };
    EXPECT_CALL(runtime, remove(_)).Times(1);

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(otherReport.acted, 1u);
    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Removed);
}

TEST_F(LongStoppedRemoval, RemoveFailureKeepsWorkerStoppedAndSaysWhy) {
    put(longStoppedSynced("chat-1"));
    EXPECT_CALL(runtime, remove(_))
        .WillOnce(Throw(ProblemError(Problem{"runtime_unavailable", "volume busy", ""})));

    const ReaperReport report = manager.removeLongStoppedWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
    EXPECT_THAT(record("chat-1").lastError, HasSubstr("volume busy"));
}

TEST_F(StuckTransitions, StuckStoppingIsRetriedAfterTimeout) {
    SessionWorker worker = base("chat-1", WorkerStatus::Stopping);
    worker.desiredStatus = WorkerStatus::Stopped;
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    put(worker);
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Running));
    EXPECT_CALL(runtime, stop(_)).Times(1);

    const ReaperReport report = manager.recoverStuckWorkers();

    EXPECT_EQ(report.acted, 1u);
    EXPECT_EQ(report.toJson()["recovered"], 1);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
}

TEST_F(StuckTransitions, StoppingWithinTheTimeoutIsLeftAlone) {
    SessionWorker worker = base("chat-1", WorkerStatus::Stopping);
    worker.stateChangedAtMs = kNow - 9 * kMinute;
    put(worker);

    const ReaperReport report = manager.recoverStuckWorkers();

    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopping);
}

TEST_F(StuckTransitions, StuckStoppingWhoseSandboxVanishedIsMarkedDeleted) {
    SessionWorker worker = base("chat-1", WorkerStatus::Stopping);
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    put(worker);
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Missing));

    manager.recoverStuckWorkers();

    EXPECT_EQ(record("chat-1").status, WorkerStatus::Deleted);
}

TEST_F(StuckTransitions, StuckCreatingIsSurfacedAsFailed) {
    SessionWorker worker = base("chat-1", WorkerStatus::Creating);
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    put(worker);

    const ReaperReport report = manager.recoverStuckWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Failed);
    EXPECT_THAT(record("chat-1").lastError, HasSubstr("creating did not finish within 660 s"));
}

TEST_F(StuckTransitions, StuckRemovingIsFinished) {
    SessionWorker worker = base("chat-1", WorkerStatus::Removing);
    worker.desiredStatus = WorkerStatus::Removed;
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    put(worker);
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Stopped));
    EXPECT_CALL(runtime, remove(_)).Times(1);

    manager.recoverStuckWorkers();

    EXPECT_EQ(record("chat-1").status, WorkerStatus::Removed);
}

TEST_F(StuckTransitions, FailedRetryIsSurfacedNotLeftForever) {
    SessionWorker worker = base("chat-1", WorkerStatus::Removing);
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    put(worker);
    EXPECT_CALL(runtime, inspect(_))
        .WillOnce(Throw(ProblemError(Problem{"runtime_unavailable", "docker daemon down", ""})));

    const ReaperReport report = manager.recoverStuckWorkers();

    EXPECT_EQ(report.failed, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Failed);
    EXPECT_THAT(record("chat-1").lastError, HasSubstr("docker daemon down"));
}

TEST_F(StuckTransitions, TwoRecoverersNeverRetryTheSameStopTwice) {
    SessionWorker worker = base("chat-1", WorkerStatus::Stopping);
    worker.stateChangedAtMs = kNow - 11 * kMinute;
    put(worker);
    LifecycleManager otherHost = anotherHost();
    ReaperReport otherReport;
    store.beforeCompareAndSet = [&] { otherReport = otherHost.recoverStuckWorkers(); };
    EXPECT_CALL(runtime, inspect(_)).WillOnce(Return(SandboxState::Running));
    EXPECT_CALL(runtime, stop(_)).Times(1);

    const ReaperReport report = manager.recoverStuckWorkers();

    EXPECT_EQ(otherReport.acted, 1u);
    EXPECT_EQ(report.skipped, 1u);
    EXPECT_EQ(record("chat-1").status, WorkerStatus::Stopped);
}

}  // namespace
}  // namespace aw::testing
