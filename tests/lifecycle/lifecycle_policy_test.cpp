// The pure lifecycle gates: idle, removal, sync safety and stuck detection.
#include <gtest/gtest.h>

#include "agent_worker/core/lifecycle_policy.h"

namespace aw {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;
constexpr std::int64_t kMinute = 60 * 1000;

SessionWorker synced(std::int64_t lastActiveAtMs, std::int64_t lastSyncAtMs) {
    SessionWorker worker;
    worker.status = WorkerStatus::Stopped;
    worker.lastActiveAtMs = lastActiveAtMs;
    worker.lastSyncStatus = SyncStatus::Succeeded;
    worker.lastSyncAtMs = lastSyncAtMs;
    return worker;
}

TEST(SyncPolicy, RemovalNeedsASuccessfulSyncStrictlyAfterTheLastActivity) {
    EXPECT_TRUE(SyncPolicy::mayRemove(synced(kNow - 10, kNow - 5)));
    EXPECT_FALSE(SyncPolicy::mayRemove(synced(kNow - 5, kNow - 5)));
    EXPECT_FALSE(SyncPolicy::mayRemove(synced(kNow - 5, kNow - 10)));
    SessionWorker failed = synced(kNow - 10, kNow - 5);
    failed.lastSyncStatus = SyncStatus::Failed;
    EXPECT_FALSE(SyncPolicy::mayRemove(failed));
    SessionWorker never = synced(kNow - 10, 0);
    never.lastSyncStatus = SyncStatus::Never;
    EXPECT_FALSE(SyncPolicy::mayRemove(never));
}

TEST(SyncPolicy, StopNeedsTheSyncJustDoneToHaveSucceeded) {
    EXPECT_TRUE(SyncPolicy::mayStop(SyncResult{true, ""}));
    EXPECT_FALSE(SyncPolicy::mayStop(SyncResult{false, "timeout"}));
}

TEST(IdleGate, WaitingHumanCountsAsActive) {
    SessionWorker worker;
    worker.status = WorkerStatus::Running;
    worker.lastActiveAtMs = kNow - 60 * kMinute;
    const LifecyclePolicy policy;
    EXPECT_EQ(checkIdleStop(worker, {RunStatus::WaitingHuman}, kNow, policy).verdict,
              GateVerdict::NotDue);
    EXPECT_EQ(checkIdleStop(worker, {RunStatus::Running}, kNow, policy).verdict,
              GateVerdict::NotDue);
    EXPECT_EQ(checkIdleStop(worker, {}, kNow, policy).verdict, GateVerdict::Proceed);
}

TEST(RemovalGate, ForbiddenOnlyOnceDue) {
    const LifecyclePolicy policy;
    SessionWorker worker = synced(kNow - 10, 0);
    worker.lastSyncStatus = SyncStatus::Never;
    worker.stateChangedAtMs = kNow - policy.removeAfterMs + kMinute;
    EXPECT_EQ(checkRemoval(worker, kNow, policy).verdict, GateVerdict::NotDue);
    worker.stateChangedAtMs = kNow - policy.removeAfterMs;
    EXPECT_EQ(checkRemoval(worker, kNow, policy).verdict, GateVerdict::Forbidden);
}

TEST(StuckDetection, OnlyTransitionalStatesPastTheTimeoutAreStuck) {
    const LifecyclePolicy policy;
    SessionWorker worker;
    worker.stateChangedAtMs = kNow - policy.transitionTimeoutMs;
    for (WorkerStatus status :
         {WorkerStatus::Creating, WorkerStatus::Stopping, WorkerStatus::Removing}) {
        worker.status = status;
        EXPECT_TRUE(policy.isStuck(worker, kNow)) << toString(status);
        EXPECT_FALSE(policy.isStuck(worker, kNow - 1)) << toString(status);
    }
    for (WorkerStatus status :
         {WorkerStatus::Running, WorkerStatus::Stopped, WorkerStatus::Failed}) {
        worker.status = status;
        EXPECT_FALSE(policy.isStuck(worker, kNow)) << toString(status);
    }
}

}  // namespace
}  // namespace aw
